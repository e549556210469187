//! Variables cut from the input (lengths scaled up so that the 65535
//! limits are reached): encoding either fails with the error the lengths
//! call for, or gives a packet that decodes back to the same variables.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngx_http_wsgi_module::uwsgi::packet::{
    decode, encode_into, encode_vars, encoded_len, PacketError, MAX_LEN,
};

fuzz_target!(|data: &[u8]| {
    // Each variable: 2 control bytes (key and value sizes), then filler.
    // A size byte b gives b bytes, or (b - 200) * 1300 + b when b > 200,
    // which reaches past 65535.
    let size = |b: u8| -> usize {
        if b > 200 {
            (b as usize - 200) * 1300 + b as usize
        } else {
            b as usize
        }
    };
    let mut vars: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut chunks = data.chunks(2);
    let mut fill = 0u8;
    while let Some(&[k, v]) = chunks.next() {
        let mut gen = |n: usize| {
            (0..n)
                .map(|_| {
                    fill = fill.wrapping_mul(31).wrapping_add(k ^ v);
                    fill
                })
                .collect::<Vec<u8>>()
        };
        let key = gen(size(k));
        let value = gen(size(v));
        vars.push((key, value));
        if vars.len() > 64 {
            break;
        }
    }
    let (m1, m2) = (
        data.first().copied().unwrap_or(0),
        data.last().copied().unwrap_or(0),
    );

    let over_field = vars
        .iter()
        .any(|(k, v)| k.len() > MAX_LEN || v.len() > MAX_LEN);
    let total: usize = vars.iter().map(|(k, v)| 4 + k.len() + v.len()).sum();
    match encode_vars(&vars, m1, m2) {
        Ok(packet) => {
            assert!(!over_field && total <= MAX_LEN);
            assert_eq!(encoded_len(&vars), Ok(packet.len()));
            let (d1, d2, back, rest) = decode(&packet).expect("encoded packet decodes");
            assert_eq!((d1, d2), (m1, m2));
            assert!(back == vars);
            assert!(rest.is_empty());
            if !packet.is_empty() {
                let mut short = vec![0u8; packet.len() - 1];
                assert!(matches!(
                    encode_into(&vars, m1, m2, &mut short),
                    Err(PacketError::BufferTooSmall { .. })
                ));
            }
        }
        Err(e) => {
            assert!(over_field || total > MAX_LEN, "{e}");
            assert!(!matches!(e, PacketError::BufferTooSmall { .. }));
            assert_eq!(encoded_len(&vars), Err(e));
        }
    }
});
