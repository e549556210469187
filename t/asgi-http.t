# asgi_app: ASGI 3 HTTP apps run as tasks on each worker's asyncio loop,
# with the same guarantees as wsgi_app: the scope is the spec's, the body
# arrives whole, a response goes out as the app sends it and waits for a
# slow client, a failure before the head is a 500 and after it a cut, a
# client that leaves is an http.disconnect and makes send() raise an
# OSError, and wsgi_request_timeout cancels the task.
#
# The apps are in t/apps/asgi_http.py; the WSGI drivers of streaming.py and
# partial.py act as the client where a whole-response client cannot see
# what matters (they share counters with the ASGI apps: one worker).
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256 sha256_hex);

master_on();
no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;\n    asgi_lifespan off;")
        unless defined $block->http_config;
    $block->set_value("no_error_log", "[alert]\n[crit]")
        unless defined $block->no_error_log;
    $block->set_value("timeout", 30) unless defined $block->timeout;
});

# chunk 0 of streaming.chunk, 64 KiB.
sub chunk0 { sha256("0") x 2048 }

run_tests();

__DATA__

=== TEST 1: the scope has the spec's keys: path decoded and with root_path, raw_path and query_string as sent, headers lower-cased with repeats apart
--- config
    location /app/ { asgi_app asgi_http:scope; }
--- request
GET /app/a%20b?x=1&y=%20
--- more_headers
X-Multi: 1
X-Multi: 2
--- response_body
{
 "asgi": {
  "spec_version": "2.4",
  "version": "3.0"
 },
 "client": [
  "127.0.0.1",
  "int"
 ],
 "extensions": {
  "http.response.pathsend": {}
 },
 "headers": [
  [
   "host",
   "localhost"
  ],
  [
   "connection",
   "close"
  ],
  [
   "x-multi",
   "1"
  ],
  [
   "x-multi",
   "2"
  ]
 ],
 "http_version": "1.1",
 "method": "GET",
 "path": "/app/a b",
 "query_string": "x=1&y=%20",
 "raw_path": "/app/a%20b",
 "root_path": "/app",
 "scheme": "http",
 "server": [
  "127.0.0.1",
  "int"
 ],
 "type": "http"
}



=== TEST 2: a body of 3 MiB arrives whole, in pieces of at most 1 MiB
--- config
    location /echo { asgi_app asgi_http:echo; }
--- request eval
"POST /echo\n" . ("x" x (3 * 1024 * 1024 + 5))
--- response_body eval
use Digest::SHA qw(sha256_hex);
"3145733 bytes in 4 messages, sha256 " . substr(sha256_hex("x" x (3 * 1024 * 1024 + 5)), 0, 16) . "\n"



=== TEST 3: no body: one http.request message with an empty body
--- config
    location /echo { asgi_app asgi_http:echo; }
--- request
GET /echo
--- response_body
0 bytes in 1 messages, sha256 e3b0c44298fc1c14



=== TEST 4: the status gets nginx's reason phrase; repeated headers stay apart
--- config
    location /headers { asgi_app asgi_http:headers; }
--- request
GET /headers?201
--- error_code: 201
--- raw_response_headers_like
^HTTP/1.1 201 Created\r
(?s:.*)set-cookie: a=1\r
set-cookie: b=2\r
x-custom: yes\r
--- response_body
a body



=== TEST 5: HEAD, 204 and 304: nginx sends no body
--- config
    location /drive { wsgi_app streaming:pipeline; }
    location /headers { asgi_app asgi_http:headers; }
--- request
GET /drive?HEAD%20/headers|GET%20/headers?204|GET%20/headers?304|GET%20/headers?200
--- response_body
1: HTTP/1.1 200 OK; body: none, 0 bytes; complete
2: HTTP/1.1 204 No Content; body: none, 0 bytes; complete
3: HTTP/1.1 304 Not Modified; body: none, 0 bytes; complete
4: HTTP/1.1 200 OK; body: chunked, 7 bytes: b'a body\n'; complete
bytes after the responses: 0



=== TEST 6: a status without a reason phrase in nginx goes out as a number
--- config
    location /raw_status { asgi_app asgi_http:raw_status; }
--- request
GET /raw_status
--- error_code: 299
--- raw_response_headers_like
^HTTP/1.1 299 \r
--- response_body
ok



=== TEST 7: a chunk leaves as soon as it is sent, while the app still runs
--- config
    location /drive_held { wsgi_app streaming:drive_held; }
    location /release { wsgi_app streaming:release; }
    location /held { asgi_app asgi_http:held; }
--- request
GET /drive_held?/held
--- response_body
the first chunk arrived while the app was still waiting: yes
/release: released
1: HTTP/1.1 200 OK; body: chunked, 35 bytes: b'first chunk\nsecond chunk: released\n'; complete
bytes after the responses: 0



=== TEST 8: a head sent alone goes out at once, before the body
--- config
    location /drive_head_first { wsgi_app asgi_http:drive_head_first; }
    location /release { wsgi_app streaming:release; }
    location /head_first { asgi_app asgi_http:head_first; }
--- request
GET /drive_head_first
--- response_body
the head arrived while the app was still waiting: yes
/release: released
1: HTTP/1.1 200 OK; body: chunked, 9 bytes: b'released\n'; complete
bytes after the responses: 0



=== TEST 9: a client that stops reading makes the app wait in send() (no unbounded buffering); it goes on when the client reads; the hang-up ends it
--- config
    location /drive_slow { wsgi_app streaming:drive_slow; }
    location /endless { asgi_app asgi_http:endless; }
--- request
GET /drive_slow?/endless
--- response_body
paused: yes (well under 64 MiB ahead of the client)
goes on once the client reads: yes
close() called after the hang-up: yes
--- error_log eval
qr/asgi_http: endless: send raised ClientDisconnected \(an OSError\)/
--- log_level: info



=== TEST 10: a client that hangs up mid-stream: send() raises ClientDisconnected, the task ends early
--- config
    location /drive_disconnect { wsgi_app streaming:drive_disconnect; }
    location /endless { asgi_app asgi_http:endless; }
--- request
GET /drive_disconnect?/endless
--- response_body
read before hanging up: 1 MiB
close() called: yes
iteration stopped early: yes
--- error_log eval
[qr/\[info\] .*client closed the connection while the application was responding/,
 qr/asgi_http: endless: send raised ClientDisconnected \(an OSError\)/]
--- log_level: info



=== TEST 11: twenty clients that hang up mid-stream: each request is released, so the worker exits at once on quit (shutdown_error_log: its "exit")
--- config
    location /drive_disconnect { wsgi_app streaming:drive_disconnect; }
    location /endless { asgi_app asgi_http:endless; }
--- request eval
[("GET /drive_disconnect?/endless") x 20]
--- response_body eval
[("read before hanging up: 1 MiB\nclose() called: yes\niteration stopped early: yes\n") x 20]
--- shutdown_error_log eval
qr/\[notice\] \d+#\d+: exit$/
--- no_error_log
[alert]
[error]



=== TEST 12: a client that hangs up while the app waits: receive() gives http.disconnect, the next send() raises an OSError
--- config
    location /drive_disconnect_idle { wsgi_app streaming:drive_disconnect_idle; }
    location /held_counted { asgi_app asgi_http:held_counted; }
--- request
GET /drive_disconnect_idle?/held_counted
--- response_body
first chunk read: yes
close() called: yes
iteration stopped early: yes
--- error_log eval
[qr/asgi_http: held_counted: receive\(\) gave http.disconnect/,
 qr/asgi_http: held_counted: send raised ClientDisconnected, an OSError: True/]
--- log_level: info



=== TEST 13: an exception before the response started: 500, and the traceback in the error log
--- config
    location /fails_before { asgi_app asgi_http:fails_before; }
--- request
GET /fails_before
--- error_code: 500
--- response_body
500 Internal Server Error
--- error_log eval
[qr/\[error\] .*wsgi: application raised an exception: ValueError: failed before the response started, client: 127\.0\.0\.1, .*request: "GET \/fails_before HTTP\/1\.1"/,
 qr/ValueError: failed before the response started/]



=== TEST 14: an exception midway (chunked): what was sent arrives, without the last chunk
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /fails_midway { asgi_app asgi_http:fails_midway; }
--- request
GET /repeat?20&/fails_midway
--- response_body eval
"20 x 1: HTTP/1.1 200 OK; body: chunked, 65545 bytes: sha256 " . sha256_hex(main::chunk0() . "then boom") . "; INCOMPLETE; bytes after the responses: 0\n"
--- error_log
RuntimeError: failed midway through the body



=== TEST 15: an exception midway (content-length): short of its length, then the connection closes
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /fails_midway { asgi_app asgi_http:fails_midway; }
--- request
GET /repeat?20&/fails_midway?length
--- response_body eval
"20 x 1: HTTP/1.1 200 OK; body: Content-Length 262144, 65545 bytes: sha256 " . sha256_hex(main::chunk0() . "then boom") . "; INCOMPLETE; bytes after the responses: 0\n"



=== TEST 16: the app returns without a response: 500
--- config
    location /no_response { asgi_app asgi_http:no_response; }
--- request
GET /no_response
--- error_code: 500
--- response_body
500 Internal Server Error
--- error_log
the application returned without sending a response



=== TEST 17: the app returns without ending its body: the response is cut
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /unended { asgi_app asgi_http:unended; }
--- request
GET /repeat?20&/unended
--- response_body
20 x 1: HTTP/1.1 200 OK; body: chunked, 4 bytes: b'part'; INCOMPLETE; bytes after the responses: 0
--- error_log
the application returned without ending its response (more_body was never false)



=== TEST 18: short of its content-length: cut; beyond it: the excess is dropped
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /cl_short { asgi_app asgi_http:cl_short; }
    location /cl_long { asgi_app asgi_http:cl_long; }
--- request eval
["GET /repeat?10&/cl_short", "GET /repeat?10&/cl_long"]
--- response_body eval
["10 x 1: HTTP/1.1 200 OK; body: Content-Length 10, 3 bytes: b'012'; INCOMPLETE; bytes after the responses: 0\n",
 "10 x 1: HTTP/1.1 200 OK; body: Content-Length 10, 10 bytes: b'0123456789'; complete; bytes after the responses: 0\n"]



=== TEST 19: a header value with CR LF is refused by send(), never sent: 500
--- config
    location /bad_header { asgi_app asgi_http:bad_header; }
--- request
GET /bad_header
--- error_code: 500
--- response_headers
!X-Injected
!Set-Cookie
--- response_body
500 Internal Server Error
--- error_log
asgi_http: bad_header: send() raised ValueError: header "x-injected" has a value with CR, LF or control characters



=== TEST 20: a 1xx status (101, 103) in http.response.start is refused by send(): 500, never an interim response the client would wait behind
--- config
    location /informational { asgi_app asgi_http:informational; }
--- request eval
["GET /informational?101", "GET /informational?103"]
--- error_code eval
[500, 500]
--- response_body eval
["500 Internal Server Error\n", "500 Internal Server Error\n"]
--- error_log
is informational (1xx): http.response.start needs a final status, 200 to 599



=== TEST 21: SystemExit from a task the app made itself escapes the asyncio loop: it is logged, and the loop runs on
--- config
    location /escapes { asgi_app asgi_http:escapes; }
--- request
GET /escapes
--- response_body
the loop runs on
--- error_log
an exception escaped the asyncio loop, which runs on
SystemExit: from a background task



=== TEST 22: a body that is not bytes, right after the head: none of the response went out, so 500
--- config
    location /bad_message { asgi_app asgi_http:bad_message; }
--- request
GET /bad_message
--- error_code: 500
--- response_body
500 Internal Server Error
--- error_log
"body" must be bytes, not str



=== TEST 23: a send() after the response is complete raises RuntimeError; the client has its response
--- config
    location /after_end { asgi_app asgi_http:after_end; }
--- request
GET /after_end
--- response_body
complete
--- error_log
asgi_http: after_end: send() raised RuntimeError: the response is complete: nothing more may be sent
--- log_level: info



=== TEST 24: work after the response does not hold the client; receive() then gives http.disconnect
--- config
    location /after_response { asgi_app asgi_http:after_response; }
--- request
GET /after_response
--- response_body
answered
--- error_log
asgi_http: after_response: receive() gave http.disconnect
--- log_level: info



=== TEST 25: http.response.pathsend: nginx sends the file
--- config
    location /pathsend { asgi_app asgi_http:pathsend; }
--- request
GET /pathsend
--- response_headers
Content-Length: 18000
--- response_body eval
"pathsend contents\n" x 1000



=== TEST 26: wsgi_request_timeout: 504 at the deadline, and the task is cancelled
--- config
    location /sleeper { wsgi_request_timeout 300ms; asgi_app asgi_http:sleeper; }
--- request
GET /sleeper
--- error_code: 504
--- response_body
504 Gateway Timeout: the application took too long
--- error_log eval
[qr/\[error\] .*wsgi: app "asgi_http:sleeper": the request spent longer than wsgi_request_timeout \(300 ms\) in the app: the client got 504; its task is cancelled, and has 5000 ms to let go/,
 qr/asgi_http: sleeper: cancelled/,
 qr/\[info\] .*the request's task ended after its wsgi_request_timeout/]
--- no_error_log
[alert]
recycling
--- log_level: info



=== TEST 27: a task that swallows its cancellation: after the grace the worker is recycled
--- config
    location /drive_recycle { wsgi_app asgi_http:drive_recycle; }
    location /stubborn { wsgi_request_timeout 200ms 300ms; asgi_app asgi_http:stubborn; }
    location /pid { asgi_app asgi_http:pid; }
--- request
GET /drive_recycle?/stubborn
--- response_body
/stubborn: 504
the worker closed its keep-alive connection: yes
--- error_log
asgi_http: stubborn: cancelled, and goes on
an ASGI task did not end within 300 ms of wsgi_request_timeout
--- log_level: info



=== TEST 28: wsgi_app and asgi_app side by side in one server, many requests on one connection
--- config
    location /wsgi { wsgi_app streaming:hello; }
    location /asgi { asgi_app asgi_http:quick; }
--- pipelined_requests eval
["GET /wsgi", "GET /asgi", "GET /wsgi", "GET /asgi", "GET /asgi"]
--- response_body eval
["hello, world\n", "ok\n", "hello, world\n", "ok\n", "ok\n"]



=== TEST 29: a keep-alive connection serves one ASGI request after another
--- config
    location /echo { asgi_app asgi_http:echo; }
--- request eval
["POST /echo\nabc", "POST /echo\nde", "GET /echo"]
--- response_body eval
["3 bytes in 1 messages, sha256 ba7816bf8f01cfea\n",
 "2 bytes in 1 messages, sha256 959a45d44e6fcf58\n",
 "0 bytes in 1 messages, sha256 e3b0c44298fc1c14\n"]
