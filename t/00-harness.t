# Self-test of the test harness (t/lib/Test/Nginx/Socket.pm, the project's
# compatible subset of CPAN's Test::Nginx::Socket).  It only uses stock nginx
# features, so it runs against any nginx build, and it must also pass under
# the real CPAN Test::Nginx.
use Test::Nginx::Socket 'no_plan';

repeat_each(2);
master_on();
workers(2);
log_level('debug');
no_long_string();
env_to_nginx("NGX_WSGI_HARNESS=1");

# a default request for blocks without one (the usual preprocessor idiom)
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->request && !defined $block->raw_request
        && !defined $block->pipelined_requests
        && !defined $block->must_die)
    {
        $block->set_value("request", "GET /t\n");
    }
});

run_tests();

__DATA__

=== TEST 1: plain response, status, headers, body, no error
--- config
    location /t { return 200 "hi\n"; }
--- request
GET /t
--- response_body
hi
--- error_code: 200
--- response_headers
Content-Type: text/plain
Content-Length: 3
!X-Absent
--- no_error_log
[error]
[alert]



=== TEST 2: default request from add_block_preprocessor; response_body eval
--- config
    location /t { return 200 "hello\nworld\n"; }
--- response_body eval
"hello\nworld\n"



=== TEST 3: the client adds Host and Connection; more_headers (with a comment)
--- config
    location /hdr {
        return 200 "foo=$http_x_foo host=$host conn=$http_connection\n";
    }
--- request
GET /hdr
--- more_headers
# this line is a comment
X-Foo: bar
--- response_body
foo=bar host=localhost conn=close



=== TEST 4: response_body_like is /s (. matches newlines)
--- config
    location /t { return 200 "first line\nsecond line\n"; }
--- response_body_like: ^first.*second line$



=== TEST 5: response_body_unlike
--- config
    location /t { return 200 "first line\nsecond line\n"; }
--- response_body_unlike: third



=== TEST 6: add_header, response_headers_like, raw_response_headers_like
--- config
    location /t {
        add_header X-Harness "yes $uri";
        return 200 "ok\n";
    }
--- response_headers
X-Harness: yes /t
!X-Other
--- response_headers_like
Content-Length: \d+
X-Harness: yes /\w+
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n.*X-Harness: yes /t\r\n
--- response_body
ok



=== TEST 7: chunked response (ssi clears Content-Length): de-chunked body, raw headers
--- config
    location /t {
        ssi on;
        ssi_types *;
        return 200 "chunked body\n";
    }
--- raw_response_headers_like: Transfer-Encoding: chunked\r\n
--- response_headers
!Content-Length
--- response_body
chunked body



=== TEST 8: missing static file: 404 and an [error] open() line
--- config
    location /t { return 200 "unused\n"; }
--- request
GET /missing.html
--- error_code: 404
--- response_body_like: 404 Not Found
--- error_log
[error]
open()
No such file or directory



=== TEST 9: error_log eval: an arrayref of regexes and strings
--- config
    location /t { return 200 "unused\n"; }
--- request
GET /missing.html
--- error_code: 404
--- error_log eval
[qr/open\(\) ".*?missing\.html" failed/, "No such file"]



=== TEST 10: grep_error_log counts the lines of this repetition only
--- config
    location /t { return 200 "unused\n"; }
    error_page 404 /missing-b.html;
--- request
GET /missing-a.html
--- error_code: 404
--- grep_error_log eval: qr/open\(\) "[^"]+" failed/
--- grep_error_log_out eval
qr/\Aopen\(\) "\S+missing-a\.html" failed\nopen\(\) "\S+missing-b\.html" failed\n\z/



=== TEST 11: grep_error_log with a plain string
--- config
    location /t { return 200 "unused\n"; }
    error_page 404 /missing-b.html;
--- request
GET /missing-a.html
--- error_code: 404
--- grep_error_log chop
No such file or directory
--- grep_error_log_out
No such file or directory
No such file or directory



=== TEST 12: user_files are written under the html dir (sub dirs too)
--- config
    location /t { return 200 "unused\n"; }
--- user_files
>>> foo.txt
hello from foo
>>> sub/dir/bar.txt
bar
--- request eval
["GET /foo.txt", "GET /sub/dir/bar.txt"]
--- response_body eval
["hello from foo\n", "bar\n"]
--- error_code eval
[200, 200]
--- no_error_log
[error]



=== TEST 13: $TEST_NGINX_* in config and http_config; main_config
--- main_config
    worker_rlimit_nofile 4096;
--- http_config
    map $uri $harness_root {
        default "$TEST_NGINX_SERVER_ROOT";
    }
--- config
    location = /t {
        return 200 "port=$TEST_NGINX_SERVER_PORT root=$harness_root\n";
    }
    location = /aliased {
        alias $TEST_NGINX_SERVER_ROOT/html/foo.txt;
    }
--- user_files
>>> foo.txt
aliased foo
--- request eval
["GET /t", "GET /aliased"]
--- response_body_like eval
["^port=\\d+ root=/\\S+\$", "^aliased foo\$"]
--- error_code eval
[200, 200]



=== TEST 14: request body (Content-Length computed from the trimmed body)
--- config
    location /echo {
        client_body_buffer_size 64k;
        client_body_in_single_buffer on;
        # the mirror module reads the whole body (precontent phase); the
        # static module then refuses the POST with 405, turned into a 200
        mirror /sink;
        mirror_request_body on;
        alias $TEST_NGINX_SERVER_ROOT/html/index.html;
        error_page 405 =200 /echo_ret;
    }
    location = /echo_ret {
        internal;
        return 200 "[$request_body] len=$content_length\n";
    }
    location = /sink { internal; return 204; }
--- request
POST /echo
hello world
--- response_body
[hello world] len=11



=== TEST 15: chunked request body (more_headers Transfer-Encoding: chunked)
--- config
    location /echo {
        client_body_buffer_size 64k;
        client_body_in_single_buffer on;
        mirror /sink;
        mirror_request_body on;
        alias $TEST_NGINX_SERVER_ROOT/html/index.html;
        error_page 405 =200 /echo_ret;
    }
    location = /echo_ret { internal; return 200 "[$request_body]\n"; }
    location = /sink { internal; return 204; }
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /echo\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
--- response_body
[hello world]



=== TEST 16: a request sent as packets, with a delay between them
--- config
    location /echo {
        client_body_buffer_size 64k;
        client_body_in_single_buffer on;
        mirror /sink;
        mirror_request_body on;
        alias $TEST_NGINX_SERVER_ROOT/html/index.html;
        error_page 405 =200 /echo_ret;
    }
    location = /echo_ret { internal; return 200 "[$request_body]\n"; }
    location = /sink { internal; return 204; }
--- request eval
[["POST /echo\nhel", {value => "lo", delay_before => 0.05}]]
--- response_body
[hello]



=== TEST 17: an 8 MiB request body
--- config
    location /len {
        client_max_body_size 30m;
        mirror /sink;
        mirror_request_body on;
        alias $TEST_NGINX_SERVER_ROOT/html/index.html;
        error_page 405 =200 /len_ret;
    }
    location = /len_ret {
        internal;
        return 200 "len=$content_length read=$request_length\n";
    }
    location = /sink { internal; return 204; }
--- request eval
"POST /len\n" . ("a" x 8388608)
--- response_body_like: ^len=8388608 read=83886\d\d$
--- timeout: 10



=== TEST 18: raw_request is sent verbatim (HTTP/1.0, own headers)
--- config
    location /hdr {
        return 200 "foo=$http_x_foo host=$host proto=$server_protocol\n";
    }
--- raw_request eval
"GET /hdr HTTP/1.0\r\nHost: example.com\r\nX-Foo: raw\r\n\r\n"
--- response_body
foo=raw host=example.com proto=HTTP/1.0



=== TEST 19: raw_request in bits, with raw_request_middle_delay
--- config
    location /hdr {
        return 200 "foo=$http_x_foo proto=$server_protocol\n";
    }
--- raw_request eval
["GET /hdr HTTP/1.0\r\n", "X-Foo: split\r\n", "\r\n"]
--- raw_request_middle_delay: 0.05
--- response_body
foo=split proto=HTTP/1.0



=== TEST 20: several requests in one block (arrays of expected values)
--- config
    location /a { return 200 "A\n"; }
    location /b { return 201 "B\n"; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 201]
--- response_body eval
["A\n", "B\n"]



=== TEST 21: pipelined requests on one connection
--- config
    location /a { return 200 "A\n"; }
    location /b { add_header X-B b; return 200 "BB\n"; }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- error_code eval
[200, 200]
--- response_body eval
["A\n", "BB\n"]



=== TEST 22: HEAD request: Content-Length without a body is not truncation
--- config
    location /t { return 200 "some body\n"; }
--- request
HEAD /t
--- response_headers
Content-Length: 10
--- response_body eval
""



=== TEST 23: abort: a client timeout is not a failure; ignore_response
--- config
    location = /slow {
        limit_rate 100;
        alias $TEST_NGINX_SERVER_ROOT/html/big.txt;
    }
--- user_files eval
">>> big.txt\n" . ("x" x 399 . "\n") x 2
--- request
GET /slow
--- timeout: 300ms
--- abort
--- ignore_response
--- no_error_log
[alert]



=== TEST 24: slow but steady responses do not time out (idle timeout)
--- config
    location = /slow {
        limit_rate 2000;
        alias $TEST_NGINX_SERVER_ROOT/html/big.txt;
    }
--- user_files eval
">>> big.txt\n" . ("y" x 999 . "\n") x 3
--- request
GET /slow
--- timeout: 2
--- response_body eval
"" . ("y" x 999 . "\n") x 3



=== TEST 25: wait; per-block log_level
--- log_level: info
--- config
    location /t { return 200 "hi\n"; }
--- wait: 0.1
--- response_body
hi
--- no_error_log
[debug]



=== TEST 26: shutdown_error_log is checked after nginx stopped
--- config
    location /t { return 200 "hi\n"; }
--- response_body
hi
--- shutdown_error_log
(SIGQUIT) received



=== TEST 27: must_die: bad directive arguments stop nginx from starting
--- config
    location /t { return abc def ghi; }
--- must_die
--- error_log
[emerg]
invalid number of arguments in "return" directive



=== TEST 28: must_die: unknown directive
--- config
    location /t { no_such_directive_here on; }
--- must_die
--- error_log
[emerg]
unknown directive "no_such_directive_here"



=== TEST 29: SKIP: this block would fail if it ran
--- SKIP
--- config
    location /t { return 500; }
--- response_body
never
