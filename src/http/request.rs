//! Copying what the WSGI side needs out of an nginx request: the CGI parts
//! (through nginx's own variables, as `uwsgi_params` does) and the body
//! (by reference: nginx keeps its buffers until the request is released).

use crate::conf::LocConf;
use crate::wsgi::cgi::{Field, RequestParts};
use crate::wsgi::input::{Body, Segment};
use ngx::ffi::*;

/// Indexes of the nginx variables the environ is built from.
pub struct VarIndexes {
    method: ngx_int_t,
    request_uri: ngx_int_t,
    document_uri: ngx_int_t,
    query_string: ngx_int_t,
    protocol: ngx_int_t,
    server_name: ngx_int_t,
    host: ngx_int_t,
    server_addr: ngx_int_t,
    server_port: ngx_int_t,
    remote_addr: ngx_int_t,
    remote_port: ngx_int_t,
    document_root: ngx_int_t,
    https: ngx_int_t,
}

unsafe fn index(cf: *mut ngx_conf_t, name: &str) -> Option<ngx_int_t> {
    let mut s = ngx_str_t {
        len: name.len(),
        data: name.as_ptr().cast_mut(),
    };
    let i = ngx_http_get_variable_index(cf, &mut s);
    (i != NGX_ERROR as ngx_int_t).then_some(i)
}

impl VarIndexes {
    pub unsafe fn new(cf: *mut ngx_conf_t) -> Option<VarIndexes> {
        Some(VarIndexes {
            method: index(cf, "request_method")?,
            request_uri: index(cf, "request_uri")?,
            document_uri: index(cf, "document_uri")?,
            query_string: index(cf, "query_string")?,
            protocol: index(cf, "server_protocol")?,
            server_name: index(cf, "server_name")?,
            host: index(cf, "host")?,
            server_addr: index(cf, "server_addr")?,
            server_port: index(cf, "server_port")?,
            remote_addr: index(cf, "remote_addr")?,
            remote_port: index(cf, "remote_port")?,
            document_root: index(cf, "document_root")?,
            https: index(cf, "https")?,
        })
    }
}

pub unsafe fn bytes<'a>(s: &ngx_str_t) -> &'a [u8] {
    if s.len == 0 || s.data.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(s.data, s.len)
    }
}

unsafe fn var<'a>(r: *mut ngx_http_request_t, index: ngx_int_t) -> &'a [u8] {
    let v = ngx_http_get_indexed_variable(r, index as ngx_uint_t);
    if v.is_null() || (*v).not_found() != 0 || (*v).data.is_null() {
        return &[];
    }
    std::slice::from_raw_parts((*v).data, (*v).len() as usize)
}

/// Visit each element of an nginx list of headers.
pub unsafe fn for_each_header(list: &ngx_list_t, mut f: impl FnMut(&ngx_table_elt_t)) {
    let mut part: *const ngx_list_part_t = &list.part;
    while !part.is_null() {
        let elts = (*part).elts as *const ngx_table_elt_t;
        for i in 0..(*part).nelts {
            let h = &*elts.add(i);
            if h.hash != 0 {
                f(h);
            }
        }
        part = (*part).next;
    }
}

/// The request body as nginx stored it: memory buffers and/or temp file.
pub unsafe fn body(r: *mut ngx_http_request_t) -> Body {
    let mut body = Body::default();
    let rb = (*r).request_body;
    if rb.is_null() {
        return body;
    }
    let mut cl = (*rb).bufs;
    while !cl.is_null() {
        let b = (*cl).buf;
        if (*b).in_file() != 0 && !(*b).file.is_null() {
            body.push(Segment::File {
                fd: (*(*b).file).fd,
                offset: (*b).file_pos as u64,
                len: ((*b).file_last - (*b).file_pos) as u64,
            });
        } else if !(*b).pos.is_null() {
            body.push(Segment::Borrowed {
                ptr: (*b).pos,
                len: (*b).last.offset_from((*b).pos) as usize,
            });
        }
        cl = (*cl).next;
    }
    body
}

/// SERVER_NAME: the server's `server_name`; in a server without one, the
/// request's host name without the port (`$host`), else the local address.
/// PEP 3333: SERVER_NAME "must never be empty".
unsafe fn server_name<'a>(r: *mut ngx_http_request_t, vars: &VarIndexes) -> &'a [u8] {
    [vars.server_name, vars.host, vars.server_addr]
        .into_iter()
        .map(|i| var(r, i))
        .find(|v| !v.is_empty())
        .unwrap_or_default()
}

/// `content_length`: the body's length, if the request has a body and its
/// length is known (a streamed chunked body has none).
pub unsafe fn parts(
    r: *mut ngx_http_request_t,
    lcf: &LocConf,
    vars: &VarIndexes,
    content_length: Option<u64>,
) -> RequestParts {
    let mut p = RequestParts::with_capacity(1024, 16);
    p.set(Field::Method, var(r, vars.method))
        .set(Field::RequestUri, var(r, vars.request_uri))
        .set(Field::Uri, var(r, vars.document_uri))
        .set(Field::QueryString, var(r, vars.query_string))
        .set(Field::Protocol, var(r, vars.protocol))
        .set(Field::ScriptName, &lcf.script_name)
        .set(Field::ServerName, server_name(r, vars))
        .set(Field::ServerPort, var(r, vars.server_port))
        .set(Field::RemoteAddr, var(r, vars.remote_addr))
        .set(Field::RemotePort, var(r, vars.remote_port))
        .set(Field::DocumentRoot, var(r, vars.document_root))
        .set(Field::RequestLine, bytes(&(*r).request_line));
    if lcf.asgi() {
        // ASGI's `server`. Only there: on a wildcard listen it costs a
        // getsockname() per connection.
        p.set(Field::ServerAddr, var(r, vars.server_addr));
    }
    p.https = var(r, vars.https) == b"on";

    for_each_header(&(*r).headers_in.headers, |h| {
        p.add_header(bytes(&h.key), bytes(&h.value));
    });

    for param in lcf.params.iter().flatten() {
        let mut value = ngx_str_t::default();
        if ngx_http_complex_value(r, param.value, &mut value) != NGX_OK as ngx_int_t {
            continue;
        }
        if param.if_not_empty && value.len == 0 {
            continue;
        }
        p.add_param(&param.name, bytes(&value));
    }

    p.content_length = content_length;
    p
}

/// Whether the request has a body (a length, or chunked).
pub unsafe fn has_body(r: *mut ngx_http_request_t) -> bool {
    !(*r).headers_in.content_length.is_null() || (*r).headers_in.chunked() != 0
}
