# wsgi_request_timeout (issue "run it in production"): a request still in
# the app at the deadline is ended. The client hears at the deadline (504,
# or a cut connection if its response had begun); RequestTimeout, a
# BaseException, is raised into the thread, so that even an app that
# catches Exception ends, and the iterable's close() runs; the thread is
# then free again. (A thread that does not come back is in
# t/lifecycle-recycle.t.)
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;\n    wsgi_threads 3;\n    wsgi_queue_timeout 10s;")
        unless defined $block->http_config;
    $block->set_value("timeout", 30) unless defined $block->timeout;
});

run_tests();

__DATA__

=== TEST 1: a pure-Python busy loop that catches Exception gets 504 at the deadline, and RequestTimeout ends it
--- config
    location /drive { wsgi_app timeouts:drive; }
    location /busy { wsgi_request_timeout 300ms; wsgi_app timeouts:busy; }
--- request
GET /drive?1&/busy
--- response_body
1: HTTP/1.1 504 Gateway Time-out; body: Content-Length 51, 51 bytes: b'504 Gateway Timeout: the application took too long\n'; complete
events: busy: RequestTimeout
--- error_log eval
[qr/\[error\] .*wsgi: app "timeouts:busy": the request spent longer than wsgi_request_timeout \(300 ms\) in the app: the client got 504; RequestTimeout is raised into its thread, which has 5000 ms to let go/,
 qr/the request timed out \(wsgi_request_timeout\): RequestTimeout was raised in the app: RequestTimeout/]
--- no_error_log
[alert]
recycling



=== TEST 2: the threads of timed-out requests are free again: a burst of wsgi_threads requests succeeds right after
--- config
    location /drive_burst { wsgi_app timeouts:drive_burst; }
    location /busy { wsgi_request_timeout 300ms; wsgi_app timeouts:busy; }
    location /quick { wsgi_app timeouts:quick; }
--- request
GET /drive_burst?2&/busy&/quick
--- response_body
/busy: 504 504
/quick: 200 200
--- no_error_log
[alert]
recycling
wsgi_queue_timeout



=== TEST 3: a busy iterable: 504 (nothing was sent yet); the failure is logged with where the app was, then close() runs
--- config
    location /drive { wsgi_app timeouts:drive; }
    location /busy_body { wsgi_request_timeout 300ms; wsgi_app timeouts:busy_body; }
--- request
GET /drive?2&/busy_body
--- response_body
1: HTTP/1.1 504 Gateway Time-out; body: Content-Length 51, 51 bytes: b'504 Gateway Timeout: the application took too long\n'; complete
events: busy iterator: RequestTimeout, close() ran
--- error_log eval
[qr/wsgi:   File ".*timeouts.py", line \d+, in spin/]
--- grep_error_log eval: qr/timeouts: close\(\) ran|RequestTimeout was raised in the app/
--- grep_error_log_out
RequestTimeout was raised in the app
timeouts: close() ran
--- log_level: info



=== TEST 4: the response had begun: the client gets its first chunk, then the connection is cut at the deadline
--- config
    location /drive { wsgi_app timeouts:drive; }
    location /busy_body { wsgi_request_timeout 300ms; wsgi_app timeouts:busy_body; }
--- request
GET /drive?2&/busy_body?first
--- response_body
1: HTTP/1.1 200 OK; body: chunked, 12 bytes: b'first chunk\n'; INCOMPLETE
events: busy iterator: RequestTimeout, close() ran
--- error_log
its response was cut



=== TEST 5: time spent parked is not time in the app: a slow reader of a long response is not timed out
--- config
    location /drive_slow_readers { wsgi_app parking:drive_slow_readers; }
    location /stream { wsgi_request_timeout 200ms; wsgi_app parking:stream; }
    location /inside { wsgi_app parking:inside; }
--- request
GET /drive_slow_readers?2&256&/stream
--- response_body
slow readers started: 2 of 2
/inside answered while they stream: open streams: 2
2 x 1: HTTP/1.1 200 OK; body: chunked, 16777216 bytes: the expected 256 chunks; complete
--- no_error_log
wsgi_request_timeout



=== TEST 6: wsgi_request_timeout takes a time and an optional grace
--- config
    wsgi_request_timeout 30s forever;
    location / { wsgi_app basic:hello; }
--- must_die
--- error_log
"wsgi_request_timeout" takes a time such as 30s or 500ms, not "forever"



=== TEST 7: wsgi_max_requests takes a number and a jitter below it
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_max_requests 100 100;
--- config
    location / { wsgi_app basic:hello; }
--- must_die
--- error_log
"wsgi_max_requests" must be a number from 0 to 99, not "100"
