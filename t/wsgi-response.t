# Responses under wsgi_app: start_response, bodies, and HEAD.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;")
        unless defined $block->http_config;
    $block->set_value("no_error_log", "[error]\n[alert]")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: status, headers (repeated ones kept) and Content-Type
--- config
    location / { wsgi_app basic:headers; }
--- request
GET /
--- error_code: 201
--- response_headers
Content-Type: text/x-custom
X-One: 1
Location: /elsewhere
--- raw_response_headers_like: Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n
--- response_body
created


=== TEST 2: a generator without Content-Length is sent chunked over HTTP/1.1
--- config
    location / { wsgi_app basic:gen; }
--- request
GET /
--- raw_response_headers_like: Transfer-Encoding: chunked
--- response_body
chunk 0
chunk 1
chunk 2


=== TEST 3: over HTTP/1.0 the same body is close-delimited
--- config
    location / { wsgi_app basic:gen; }
--- request
GET / HTTP/1.0
--- response_headers
Transfer-Encoding:
Content-Length:
--- response_body
chunk 0
chunk 1
chunk 2


=== TEST 4: a one-element list gets a computed Content-Length
--- config
    location / { wsgi_app basic:paths; }
--- request
GET /x
--- response_headers
Content-Length: 30
--- response_body
SCRIPT_NAME=[] PATH_INFO=[/x]


=== TEST 5: empty chunks are skipped
--- config
    location / { wsgi_app basic:empty_chunks; }
--- request
GET /
--- response_body
ab


=== TEST 6: the write() callable
--- config
    location / { wsgi_app basic:with_write; }
--- request
GET /
--- response_body
written then returned


=== TEST 7: HEAD sends the headers and no body
--- config
    location / { wsgi_app basic:hello; }
--- request
HEAD /
--- response_headers
Content-Length: 13
--- response_body


=== TEST 8: a custom reason phrase passes through
--- config
    location / { wsgi_app basic:status; }
--- request
GET /?299%20Custom%20Reason
--- error_code: 299
--- raw_response_headers_like: ^HTTP/1\.1 299 Custom Reason\r\n
--- response_body
status body


=== TEST 9: 204 carries no body
--- config
    location / { wsgi_app basic:status; }
--- request
GET /?204%20No%20Content
--- error_code: 204
--- response_body


=== TEST 10: exc_info replaces headers that were not sent yet
--- config
    location / { wsgi_app basic:exc_info_replaces; }
--- request
GET /
--- error_code: 503
--- response_headers
X-First:
--- response_body
replaced by the error page


=== TEST 11: close() is called after a complete response
--- config
    location / { wsgi_app basic:closing; }
--- request
GET /
--- response_body
part one
part two
--- error_log
close() was called
--- no_error_log
[alert]


=== TEST 12: the app's Server header replaces nginx's
--- config
    location / { wsgi_app basic:server_header; }
--- request
GET /
--- response_headers
Server: my-app/1.0
--- raw_response_headers_unlike: Server: nginx
