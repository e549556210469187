//! The CGI variables of a request, built the way nginx's uwsgi module builds
//! its params (Debian's `uwsgi_params` plus the HTTP_* headers), so that an
//! application sees the same keys under `wsgi_app`, `uwsgi_upstream` and a
//! stock `uwsgi_pass`. Plain data in, plain data out: the nginx side fills
//! `RequestParts`, the WSGI side turns the list into an environ, the uwsgi
//! side into a packet.

/// What the nginx side copies out of a request. Byte strings are as nginx
/// holds them (`uri` is decoded and normalised, `request_uri` is raw).
#[derive(Debug, Clone, Default)]
pub struct RequestParts {
    pub method: Vec<u8>,
    pub request_uri: Vec<u8>,
    /// The decoded path, `$document_uri`.
    pub uri: Vec<u8>,
    pub query_string: Vec<u8>,
    pub protocol: Vec<u8>,
    /// The location prefix the app is mounted at ("" for `/`).
    pub script_name: Vec<u8>,
    pub server_name: Vec<u8>,
    pub server_port: Vec<u8>,
    pub remote_addr: Vec<u8>,
    pub remote_port: Vec<u8>,
    pub document_root: Vec<u8>,
    pub https: bool,
    /// The body's length once read (de-chunked), if there is a body.
    pub content_length: Option<u64>,
    /// Request headers in arrival order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// `wsgi_param` values, already evaluated; they override computed keys.
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
}

pub type Vars = Vec<(Vec<u8>, Vec<u8>)>;

/// Split the decoded path into SCRIPT_NAME and PATH_INFO: the mount point
/// is only a prefix when the path is under it ("/app" mounts "/app" and
/// "/app/x", not "/apple").
pub fn split_script_name<'a>(script_name: &'a [u8], uri: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    let prefix = script_name.strip_suffix(b"/").unwrap_or(script_name);
    match uri.strip_prefix(prefix) {
        Some(rest) if !prefix.is_empty() && (rest.is_empty() || rest[0] == b'/') => (prefix, rest),
        _ => (b"", uri),
    }
}

/// Headers that never become HTTP_* variables: `Proxy` (httpoxy), names with
/// underscores (they would alias dashed names), and the two that CGI
/// carries as CONTENT_TYPE / CONTENT_LENGTH. Transfer-Encoding describes a
/// body the app receives de-chunked.
fn header_is_passed(name: &[u8]) -> bool {
    !(name.contains(&b'_')
        || name.eq_ignore_ascii_case(b"proxy")
        || name.eq_ignore_ascii_case(b"content-type")
        || name.eq_ignore_ascii_case(b"content-length")
        || name.eq_ignore_ascii_case(b"transfer-encoding"))
}

fn http_key(name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(5 + name.len());
    key.extend_from_slice(b"HTTP_");
    key.extend(name.iter().map(|&c| {
        if c == b'-' {
            b'_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    key
}

/// The request's CGI variables, in the order nginx's uwsgi module sends
/// them. Repeated headers are joined with ", " ("; " for Cookie), as nginx
/// 1.23+ does for uwsgi and as RFC 9110 allows.
pub fn cgi_vars(p: &RequestParts) -> Vars {
    let (script_name, path_info) = split_script_name(&p.script_name, &p.uri);
    let content_type = p
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let content_length = p
        .content_length
        .map(|n| n.to_string().into_bytes())
        .unwrap_or_default();

    let mut vars: Vars = Vec::with_capacity(16 + p.headers.len() + p.params.len());
    let mut put = |k: &[u8], v: &[u8]| vars.push((k.to_vec(), v.to_vec()));
    put(b"QUERY_STRING", &p.query_string);
    put(b"REQUEST_METHOD", &p.method);
    put(b"CONTENT_TYPE", &content_type);
    put(b"CONTENT_LENGTH", &content_length);
    put(b"REQUEST_URI", &p.request_uri);
    put(b"PATH_INFO", path_info);
    put(b"DOCUMENT_ROOT", &p.document_root);
    put(b"SERVER_PROTOCOL", &p.protocol);
    put(b"REQUEST_SCHEME", if p.https { b"https" } else { b"http" });
    if p.https {
        put(b"HTTPS", b"on");
    }
    put(b"REMOTE_ADDR", &p.remote_addr);
    put(b"REMOTE_PORT", &p.remote_port);
    put(b"SERVER_PORT", &p.server_port);
    put(b"SERVER_NAME", &p.server_name);
    put(b"SCRIPT_NAME", script_name);

    for (name, value) in &p.params {
        match vars.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.clone(),
            None => vars.push((name.clone(), value.clone())),
        }
    }

    let mut seen: Vec<&[u8]> = Vec::new();
    for (i, (name, value)) in p.headers.iter().enumerate() {
        if !header_is_passed(name) || seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            continue;
        }
        let key = http_key(name);
        // A `wsgi_param HTTP_FOO` replaces the header, as `uwsgi_param` does.
        if p.params.iter().any(|(k, _)| *k == key) {
            continue;
        }
        seen.push(name);
        let sep: &[u8] = if name.eq_ignore_ascii_case(b"cookie") {
            b"; "
        } else {
            b", "
        };
        let mut joined = value.clone();
        for (n2, v2) in &p.headers[i + 1..] {
            if n2.eq_ignore_ascii_case(name) {
                joined.extend_from_slice(sep);
                joined.extend_from_slice(v2);
            }
        }
        vars.push((key, joined));
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(vars: &'a Vars, key: &str) -> Option<&'a str> {
        vars.iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| std::str::from_utf8(v).unwrap())
    }

    fn parts() -> RequestParts {
        RequestParts {
            method: b"POST".to_vec(),
            request_uri: b"/app/a%20b?x=1".to_vec(),
            uri: b"/app/a b".to_vec(),
            query_string: b"x=1".to_vec(),
            protocol: b"HTTP/1.1".to_vec(),
            script_name: b"/app/".to_vec(),
            server_name: b"localhost".to_vec(),
            server_port: b"8080".to_vec(),
            remote_addr: b"127.0.0.1".to_vec(),
            remote_port: b"5000".to_vec(),
            content_length: Some(3),
            headers: vec![
                (b"Host".to_vec(), b"h".to_vec()),
                (b"X-Multi".to_vec(), b"1".to_vec()),
                (b"Cookie".to_vec(), b"a=1".to_vec()),
                (b"x-multi".to_vec(), b"2".to_vec()),
                (b"Cookie".to_vec(), b"b=2".to_vec()),
                (b"Proxy".to_vec(), b"http://evil".to_vec()),
                (b"X_Under".to_vec(), b"u".to_vec()),
                (b"Content-Type".to_vec(), b"text/plain".to_vec()),
                (b"Content-Length".to_vec(), b"3".to_vec()),
                (b"Transfer-Encoding".to_vec(), b"chunked".to_vec()),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn script_name_is_the_location_prefix() {
        assert_eq!(
            split_script_name(b"/app/", b"/app/x"),
            (&b"/app"[..], &b"/x"[..])
        );
        assert_eq!(
            split_script_name(b"/app", b"/app"),
            (&b"/app"[..], &b""[..])
        );
        assert_eq!(
            split_script_name(b"/app", b"/apple"),
            (&b""[..], &b"/apple"[..])
        );
        assert_eq!(split_script_name(b"/", b"/x"), (&b""[..], &b"/x"[..]));
        assert_eq!(split_script_name(b"", b"/x"), (&b""[..], &b"/x"[..]));
    }

    #[test]
    fn standard_keys() {
        let v = cgi_vars(&parts());
        assert_eq!(get(&v, "REQUEST_METHOD"), Some("POST"));
        assert_eq!(get(&v, "SCRIPT_NAME"), Some("/app"));
        assert_eq!(get(&v, "PATH_INFO"), Some("/a b"));
        assert_eq!(get(&v, "REQUEST_URI"), Some("/app/a%20b?x=1"));
        assert_eq!(get(&v, "QUERY_STRING"), Some("x=1"));
        assert_eq!(get(&v, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get(&v, "CONTENT_LENGTH"), Some("3"));
        assert_eq!(get(&v, "REQUEST_SCHEME"), Some("http"));
        assert_eq!(get(&v, "HTTPS"), None);
        assert_eq!(get(&v, "SERVER_PORT"), Some("8080"));
        assert_eq!(get(&v, "HTTP_HOST"), Some("h"));
    }

    #[test]
    fn repeated_headers_are_joined_and_dangerous_ones_dropped() {
        let v = cgi_vars(&parts());
        assert_eq!(get(&v, "HTTP_X_MULTI"), Some("1, 2"));
        assert_eq!(get(&v, "HTTP_COOKIE"), Some("a=1; b=2"));
        assert_eq!(v.iter().filter(|(k, _)| k == b"HTTP_X_MULTI").count(), 1);
        for absent in [
            "HTTP_PROXY",
            "HTTP_X_UNDER",
            "HTTP_CONTENT_TYPE",
            "HTTP_CONTENT_LENGTH",
            "HTTP_TRANSFER_ENCODING",
        ] {
            assert_eq!(get(&v, absent), None, "{absent}");
        }
    }

    #[test]
    fn params_override_and_extend() {
        let mut p = parts();
        p.https = true;
        p.params = vec![
            (b"SCRIPT_NAME".to_vec(), b"/mounted".to_vec()),
            (b"APP_ENV".to_vec(), b"prod".to_vec()),
            (b"HTTP_HOST".to_vec(), b"forced".to_vec()),
        ];
        let v = cgi_vars(&p);
        assert_eq!(get(&v, "SCRIPT_NAME"), Some("/mounted"));
        assert_eq!(get(&v, "APP_ENV"), Some("prod"));
        assert_eq!(get(&v, "HTTP_HOST"), Some("forced"));
        assert_eq!(v.iter().filter(|(k, _)| k == b"HTTP_HOST").count(), 1);
        assert_eq!(get(&v, "HTTPS"), Some("on"));
        assert_eq!(get(&v, "REQUEST_SCHEME"), Some("https"));
    }

    #[test]
    fn no_body_gives_empty_content_keys() {
        let mut p = parts();
        p.content_length = None;
        p.headers.clear();
        let v = cgi_vars(&p);
        assert_eq!(get(&v, "CONTENT_LENGTH"), Some(""));
        assert_eq!(get(&v, "CONTENT_TYPE"), Some(""));
    }
}
