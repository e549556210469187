//! The CGI variables of a request, built the way nginx's uwsgi module builds
//! its params (Debian's `uwsgi_params` plus the HTTP_* headers), so that an
//! application sees the same keys under `wsgi_app`, `uwsgi_upstream` and a
//! stock `uwsgi_pass`. Plain data in, plain data out: the nginx side fills
//! `RequestParts`, the WSGI side turns the list into an environ, the uwsgi
//! side into a packet.

use std::io::Write;

/// The fields of a request that the CGI variables are built from. Byte
/// strings are as nginx holds them (`Uri` is decoded and normalised,
/// `RequestUri` is raw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Method,
    RequestUri,
    /// The decoded path, `$document_uri`.
    Uri,
    QueryString,
    Protocol,
    /// The location prefix the app is mounted at ("" for `/`).
    ScriptName,
    ServerName,
    ServerPort,
    RemoteAddr,
    RemotePort,
    DocumentRoot,
    /// The request line, for the context of log messages.
    RequestLine,
    /// The local address (`$server_addr`): only for ASGI's `server`.
    ServerAddr,
}

const FIELDS: usize = Field::ServerAddr as usize + 1;

type Span = (u32, u32);

/// What the nginx side copies out of a request: every byte string in one
/// buffer (one allocation, not one per field and header), read through
/// `get`, `headers` and `params`.
#[derive(Debug, Clone, Default)]
pub struct RequestParts {
    buf: Vec<u8>,
    fields: [Span; FIELDS],
    /// Request headers in arrival order.
    headers: Vec<(Span, Span)>,
    /// `wsgi_param` values, already evaluated; they override computed keys.
    params: Vec<(Span, Span)>,
    pub https: bool,
    /// The body's length once read (de-chunked), if there is a body.
    pub content_length: Option<u64>,
}

impl RequestParts {
    /// `bytes` is a hint of the total size of the strings to come.
    pub fn with_capacity(bytes: usize, headers: usize) -> RequestParts {
        RequestParts {
            buf: Vec::with_capacity(bytes),
            headers: Vec::with_capacity(headers),
            ..Default::default()
        }
    }

    fn store(&mut self, bytes: &[u8]) -> Span {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(bytes);
        (start, self.buf.len() as u32)
    }

    fn span(&self, (start, end): Span) -> &[u8] {
        &self.buf[start as usize..end as usize]
    }

    pub fn set(&mut self, field: Field, value: &[u8]) -> &mut Self {
        self.fields[field as usize] = self.store(value);
        self
    }

    pub fn get(&self, field: Field) -> &[u8] {
        self.span(self.fields[field as usize])
    }

    pub fn add_header(&mut self, name: &[u8], value: &[u8]) -> &mut Self {
        let h = (self.store(name), self.store(value));
        self.headers.push(h);
        self
    }

    pub fn add_param(&mut self, name: &[u8], value: &[u8]) -> &mut Self {
        let p = (self.store(name), self.store(value));
        self.params.push(p);
        self
    }

    pub fn headers(&self) -> impl DoubleEndedIterator<Item = (&[u8], &[u8])> + Clone {
        self.headers
            .iter()
            .map(|&(n, v)| (self.span(n), self.span(v)))
    }

    pub fn params(&self) -> impl DoubleEndedIterator<Item = (&[u8], &[u8])> + Clone {
        self.params
            .iter()
            .map(|&(n, v)| (self.span(n), self.span(v)))
    }

    /// The value of the last `wsgi_param` named `name`.
    fn param(&self, name: &[u8]) -> Option<&[u8]> {
        self.params()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

pub type Vars = Vec<(Vec<u8>, Vec<u8>)>;

/// The variables every request has, in the order nginx's uwsgi module
/// sends them (Debian's `uwsgi_params`). `HTTPS` only comes with TLS.
pub const FIXED_KEYS: [&str; 15] = [
    "QUERY_STRING",
    "REQUEST_METHOD",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "REQUEST_URI",
    "PATH_INFO",
    "DOCUMENT_ROOT",
    "SERVER_PROTOCOL",
    "REQUEST_SCHEME",
    "HTTPS",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "SERVER_PORT",
    "SERVER_NAME",
    "SCRIPT_NAME",
];

const CONTENT_LENGTH: usize = 3;
const HTTPS: usize = 9;

/// A variable's name: one of `FIXED_KEYS` (by index), or another name (an
/// HTTP_* header or a `wsgi_param`), so that a consumer can keep ready-made
/// objects for the fixed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    Fixed(usize),
    Other(&'a [u8]),
}

impl Key<'_> {
    pub fn name(&self) -> &[u8] {
        match self {
            Key::Fixed(i) => FIXED_KEYS[*i].as_bytes(),
            Key::Other(name) => name,
        }
    }
}

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

fn http_key(name: &[u8], key: &mut Vec<u8>) {
    key.clear();
    key.extend_from_slice(b"HTTP_");
    key.extend(name.iter().map(|&c| {
        if c == b'-' {
            b'_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
}

/// Call `f` with each of the request's CGI variables, in the order nginx's
/// uwsgi module sends them: the fixed keys (a `wsgi_param` of the same name
/// replaces the value in place), the other `wsgi_param`s, then the headers.
/// Repeated headers are joined with ", " ("; " for Cookie), as nginx 1.23+
/// does for uwsgi and as RFC 9110 allows. Nothing is allocated unless a
/// header repeats.
pub fn visit_cgi_vars(p: &RequestParts, mut f: impl FnMut(Key<'_>, &[u8])) {
    let (script_name, path_info) = split_script_name(p.get(Field::ScriptName), p.get(Field::Uri));
    let content_type = p
        .headers()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
        .map_or(&b""[..], |(_, v)| v);
    let mut digits = [0u8; 20];
    let content_length: &[u8] = match p.content_length {
        Some(n) => {
            // A u64 has at most 20 digits: formatted on the stack.
            let mut w = &mut digits[..];
            write!(w, "{n}").expect("20 digits fit");
            let len = 20 - w.len();
            &digits[..len]
        }
        None => b"",
    };
    let computed: [&[u8]; 15] = [
        p.get(Field::QueryString),
        p.get(Field::Method),
        content_type,
        content_length,
        p.get(Field::RequestUri),
        path_info,
        p.get(Field::DocumentRoot),
        p.get(Field::Protocol),
        if p.https { b"https" } else { b"http" },
        b"on",
        p.get(Field::RemoteAddr),
        p.get(Field::RemotePort),
        p.get(Field::ServerPort),
        p.get(Field::ServerName),
        script_name,
    ];
    // HTTPS only comes with TLS. CONTENT_LENGTH only comes with a body:
    // PEP 3333 allows it to be absent, as gunicorn, waitress and mod_wsgi
    // leave it, and `int(environ.get("CONTENT_LENGTH", 0))` fails on "".
    let present = |i: usize| match i {
        HTTPS => p.https,
        CONTENT_LENGTH => p.content_length.is_some(),
        _ => true,
    };
    let has_params = !p.params.is_empty();
    for (i, value) in computed.into_iter().enumerate() {
        if !present(i) {
            continue;
        }
        let name = FIXED_KEYS[i].as_bytes();
        let value = if has_params {
            p.param(name).unwrap_or(value)
        } else {
            value
        };
        f(Key::Fixed(i), value);
    }

    // Other params, each name once, at its first place, with its last value.
    let emitted = |name: &[u8]| {
        FIXED_KEYS
            .iter()
            .enumerate()
            .any(|(i, k)| k.as_bytes() == name && present(i))
    };
    for (i, (name, _)) in p.params().enumerate() {
        if emitted(name) || p.params().take(i).any(|(n, _)| n == name) {
            continue;
        }
        f(Key::Other(name), p.param(name).unwrap_or_default());
    }

    let mut key = Vec::with_capacity(64);
    for (i, (name, value)) in p.headers().enumerate() {
        if !header_is_passed(name)
            || p.headers()
                .take(i)
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        http_key(name, &mut key);
        // A `wsgi_param HTTP_FOO` replaces the header, as `uwsgi_param` does.
        if has_params && p.params().any(|(k, _)| k == key.as_slice()) {
            continue;
        }
        let mut repeats = p
            .headers()
            .skip(i + 1)
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        match repeats.next() {
            None => f(Key::Other(&key), value),
            Some((_, second)) => {
                let sep: &[u8] = if name.eq_ignore_ascii_case(b"cookie") {
                    b"; "
                } else {
                    b", "
                };
                let mut joined = [value, sep, second].concat();
                for (_, v) in repeats {
                    joined.extend_from_slice(sep);
                    joined.extend_from_slice(v);
                }
                f(Key::Other(&key), &joined)
            }
        }
    }
}

/// The request's CGI variables as a list (see `visit_cgi_vars`).
pub fn cgi_vars(p: &RequestParts) -> Vars {
    let mut vars: Vars = Vec::with_capacity(16 + p.headers.len() + p.params.len());
    visit_cgi_vars(p, |k, v| vars.push((k.name().to_vec(), v.to_vec())));
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
        let mut p = RequestParts::default();
        p.set(Field::Method, b"POST")
            .set(Field::RequestUri, b"/app/a%20b?x=1")
            .set(Field::Uri, b"/app/a b")
            .set(Field::QueryString, b"x=1")
            .set(Field::Protocol, b"HTTP/1.1")
            .set(Field::ScriptName, b"/app/")
            .set(Field::ServerName, b"localhost")
            .set(Field::ServerPort, b"8080")
            .set(Field::RemoteAddr, b"127.0.0.1")
            .set(Field::RemotePort, b"5000");
        for (name, value) in [
            ("Host", "h"),
            ("X-Multi", "1"),
            ("Cookie", "a=1"),
            ("x-multi", "2"),
            ("Cookie", "b=2"),
            ("Proxy", "http://evil"),
            ("X_Under", "u"),
            ("Content-Type", "text/plain"),
            ("Content-Length", "3"),
            ("Transfer-Encoding", "chunked"),
            ("X-Multi", "3"),
        ] {
            p.add_header(name.as_bytes(), value.as_bytes());
        }
        p.content_length = Some(3);
        p
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
        assert_eq!(get(&v, "HTTP_X_MULTI"), Some("1, 2, 3"));
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
        p.add_param(b"SCRIPT_NAME", b"/mounted")
            .add_param(b"APP_ENV", b"staging")
            .add_param(b"HTTP_HOST", b"forced")
            .add_param(b"APP_ENV", b"prod");
        let v = cgi_vars(&p);
        assert_eq!(get(&v, "SCRIPT_NAME"), Some("/mounted"));
        assert_eq!(
            v.iter().position(|(k, _)| k == b"SCRIPT_NAME"),
            Some(14),
            "a param replaces a fixed key in place"
        );
        assert_eq!(get(&v, "APP_ENV"), Some("prod"), "the last value wins");
        assert_eq!(v.iter().filter(|(k, _)| k == b"APP_ENV").count(), 1);
        assert_eq!(v[15].0, b"APP_ENV", "other params follow the fixed keys");
        assert_eq!(get(&v, "HTTP_HOST"), Some("forced"));
        assert_eq!(v.iter().filter(|(k, _)| k == b"HTTP_HOST").count(), 1);
        assert_eq!(get(&v, "HTTPS"), Some("on"));
        assert_eq!(get(&v, "REQUEST_SCHEME"), Some("https"));
    }

    #[test]
    fn visit_names_the_fixed_keys_by_index() {
        let mut seen = Vec::new();
        visit_cgi_vars(&parts(), |k, _| {
            seen.push(match k {
                Key::Fixed(i) => Some(i),
                Key::Other(_) => None,
            })
        });
        assert_eq!(
            seen[..14],
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14].map(Some)
        );
        assert!(seen[14..].iter().all(Option::is_none));
    }

    #[test]
    fn without_a_body_content_length_is_absent() {
        let mut p = RequestParts::default();
        p.set(Field::Method, b"GET");
        let v = cgi_vars(&p);
        assert_eq!(get(&v, "CONTENT_LENGTH"), None);
        assert_eq!(get(&v, "CONTENT_TYPE"), Some(""));
        p.content_length = Some(0);
        assert_eq!(
            get(&cgi_vars(&p), "CONTENT_LENGTH"),
            Some("0"),
            "an empty body has a length"
        );
        p.content_length = None;
        p.add_param(b"CONTENT_LENGTH", b"42");
        let v = cgi_vars(&p);
        assert_eq!(
            get(&v, "CONTENT_LENGTH"),
            Some("42"),
            "a wsgi_param still sets it"
        );
        assert_eq!(v.iter().filter(|(k, _)| k == b"CONTENT_LENGTH").count(), 1);
    }
}
