# A failing or misbehaving app: a clear error in the response and the error
# log, never invalid bytes on the wire, and nginx keeps serving.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;")
        unless defined $block->http_config;
});

run_tests();

__DATA__

=== TEST 1: an exception gives 500 and the traceback in the error log
--- config
    location / { wsgi_app basic:raises; }
--- request
GET /
--- error_code: 500
--- response_body
500 Internal Server Error
--- error_log
wsgi: application raised an exception: ValueError: the app failed on purpose
basic.py", line
raise ValueError("the app failed on purpose")


=== TEST 2: an exception after the headers went out: the first part arrives, then the connection is cut (no last chunk, no keep-alive)
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location / { wsgi_app basic:raises_after_headers; }
--- request
GET /pipeline?GET%20/|GET%20/
--- response_body
1: HTTP/1.1 200 OK; body: chunked, 11 bytes: b'first part\n'; INCOMPLETE
2: no complete header (0 bytes left: b'')
--- error_log
RuntimeError: failed after the headers went out


=== TEST 3: close() is still called when iteration fails; what came before reaches the client
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location / { wsgi_app basic:closing_fails; }
--- request
GET /pipeline?GET%20/
--- response_body
1: HTTP/1.1 200 OK; body: chunked, 9 bytes: b'part one\n'; INCOMPLETE
bytes after the responses: 0
--- error_log
RuntimeError: iteration failed
close() was called


=== TEST 4: a status without a reason phrase is an error, not output
--- config
    location / { wsgi_app basic:bad_status; }
--- request
GET /
--- error_code: 500
--- response_body
500 Internal Server Error
--- error_log
is not of the form "NNN Reason"


=== TEST 5: a 1xx status ("101 Switching Protocols", "100 Continue") is an error: 500, never an interim response the client would wait behind
--- config
    location / { wsgi_app basic:informational_status; }
--- request eval
["GET /?101%20Switching%20Protocols", "GET /?100%20Continue"]
--- error_code eval
[500, 500]
--- response_body eval
["500 Internal Server Error\n", "500 Internal Server Error\n"]
--- error_log
is informational (1xx): a response needs a final status, 200 to 599



=== TEST 6: CR/LF in a header value is an error, not a header
--- config
    location / { wsgi_app basic:crlf_header; }
--- request
GET /
--- error_code: 500
--- response_headers
Set-Cookie:
X-Evil:
--- error_log
has a value with CR, LF or control characters


=== TEST 7: headers in a tuple, not a list, are an error (PEP 3333; wsgiref and mod_wsgi agree)
--- config
    location / { wsgi_app basic:tuple_headers; }
--- request
GET /
--- error_code: 500
--- response_body
500 Internal Server Error
--- error_log
TypeError: headers must be a list of (name, value) tuples, not tuple


=== TEST 8: hop-by-hop headers are refused
--- config
    location / { wsgi_app basic:hop_by_hop; }
--- request
GET /
--- error_code: 500
--- error_log
hop-by-hop header "Connection" is not allowed


=== TEST 9: a str body item is an error
--- config
    location / { wsgi_app basic:str_body; }
--- request
GET /
--- error_code: 500
--- error_log
WSGI response body items must be bytes, not str


=== TEST 10: returning without start_response is an error
--- config
    location / { wsgi_app basic:no_start_response; }
--- request
GET /
--- error_code: 500
--- error_log
before calling start_response()


=== TEST 11: a second start_response without exc_info is an error
--- config
    location / { wsgi_app basic:twice; }
--- request
GET /
--- error_code: 500
--- error_log
start_response() called a second time without exc_info


=== TEST 12: more than Content-Length is never sent
--- config
    location / { wsgi_app basic:long_body; }
--- request
GET /
--- response_headers
Content-Length: 5
--- response_body chomp
12345
--- error_log
sent more than its Content-Length of 5 bytes


=== TEST 13: less than Content-Length is logged, what there is is sent, and the connection closed
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location / { wsgi_app basic:short_body; }
--- request
GET /pipeline?GET%20/|GET%20/
--- response_body
1: HTTP/1.1 200 OK; body: Content-Length 100, 17 bytes: b'only a few bytes\n'; INCOMPLETE
2: no complete header (0 bytes left: b'')
--- error_log
sent 17 of the 100 bytes of its Content-Length


=== TEST 14: a module that does not import: 500, and the traceback in the log
--- config
    location /broken { wsgi_app broken_syntax; }
    location /ok { wsgi_app basic:hello; }
--- request
GET /broken
--- error_code: 500
--- response_body
500 Internal Server Error: the application failed to load
--- error_log
wsgi: failed to load app "broken_syntax:application":
broken_syntax.py", line 2
SyntaxError
app "broken_syntax:application" is not available: it failed to load when the worker started


=== TEST 15: the other locations keep serving; each refused request is logged
--- config
    location /broken { wsgi_app broken_syntax; }
    location /ok { wsgi_app basic:hello; }
--- request eval
["GET /ok", "GET /broken", "GET /ok", "GET /broken"]
--- error_code eval
[200, 500, 200, 500]
--- response_body eval
["hello, world\n", "500 Internal Server Error: the application failed to load\n", "hello, world\n", "500 Internal Server Error: the application failed to load\n"]


=== TEST 16: a missing module names itself in the log
--- config
    location / { wsgi_app no_such_module_for_tests; }
--- request
GET /
--- error_code: 500
--- error_log
ModuleNotFoundError: No module named 'no_such_module_for_tests'


=== TEST 17: an import error inside the module shows its traceback
--- config
    location / { wsgi_app import_error; }
--- request
GET /
--- error_code: 500
--- error_log
import_error.py", line 1
ModuleNotFoundError: No module named 'module_that_does_not_exist_anywhere'


=== TEST 18: a missing callable
--- config
    location / { wsgi_app basic:no_such_callable; }
--- request
GET /
--- error_code: 500
--- error_log
module "basic" has no attribute "no_such_callable"


=== TEST 19: a callable that is not callable
--- config
    location / { wsgi_app basic:not_callable; }
--- request
GET /
--- error_code: 500
--- error_log
"basic:not_callable" is not callable (it is a str)
