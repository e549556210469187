//! Any bytes: `decode` never panics, and whatever it accepts is exactly
//! what the encoder writes for the variables it found.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngx_http_wsgi_module::uwsgi::packet::{decode, encode_vars, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok((m1, m2, vars, rest)) = decode(data) {
        let packet = encode_vars(&vars, m1, m2).expect("decoded vars re-encode");
        assert_eq!(&data[..data.len() - rest.len()], &packet[..]);
        assert!(packet.len() >= HEADER_LEN);
    }
});
