# Waiting for a Python thread (issue "nothing lost"): a burst waits in the
# queue instead of failing, and the wait is bounded by time
# (wsgi_queue_timeout), after which the request gets 503 or goes to the
# uwsgi_upstream fallback. The driver in t/apps/queueing.py holds the other
# thread with /blocker and releases it only once it has the queued
# request's answer.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
worker_connections(1024);
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;\n    wsgi_threads 2;")
        unless defined $block->http_config;
    $block->set_value("timeout", 60) unless defined $block->timeout;
});

run_tests();

__DATA__

=== TEST 1: a burst of 400 requests on two threads (one is the driver's) all succeed with the default wsgi_queue
--- config
    location /drive_burst { wsgi_app queueing:drive_burst; }
    location /sleepy { wsgi_app queueing:sleepy; }
--- request
GET /drive_burst?400
--- response_body
200: 400
--- no_error_log
[error]



=== TEST 2: a request that waits longer than wsgi_queue_timeout gets 503 and a log line
--- config
    wsgi_queue_timeout 300ms;
    location /drive_queue_timeout { wsgi_app queueing:drive_queue_timeout; }
    location /blocker { wsgi_app queueing:blocker; }
    location /queued { wsgi_app basic:hello; }
--- request
GET /drive_queue_timeout?/queued
--- response_body
/queued: 1: HTTP/1.1 503 Service Temporarily Unavailable; body: Content-Length 55, 55 bytes: b'503 Service Unavailable: the application is overloaded\n'; complete
/blocker: b'blocker released\n'
--- error_log eval
qr/\[error\] .*wsgi: app "basic:hello": request refused: it waited longer than wsgi_queue_timeout \(300 ms\) for a Python thread/



=== TEST 3: with uwsgi_upstream in the location, a request that waited too long goes to the container
--- config
    wsgi_queue_timeout 300ms;
    location /drive_queue_timeout { wsgi_app queueing:drive_queue_timeout; }
    location /blocker { wsgi_app queueing:blocker; }
    location /u/ {
        wsgi_app basic:hello;
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT;
    }
--- request
GET /drive_queue_timeout?/u/server
--- response_body
/u/server: 1: HTTP/1.1 200 OK; body: chunked, 2 bytes: b'a\n'; complete
/blocker: b'blocker released\n'
--- error_log
request passed to uwsgi_upstream (it waited longer than wsgi_queue_timeout (300 ms) for a Python thread)
--- log_level: info



=== TEST 4: wsgi_queue_timeout at the location level overrides the http level
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 2;
    wsgi_queue_timeout 1h;
--- config
    location /drive_queue_timeout { wsgi_app queueing:drive_queue_timeout; }
    location /blocker { wsgi_app queueing:blocker; }
    location /queued {
        wsgi_queue_timeout 100ms;
        wsgi_app basic:hello;
    }
--- request
GET /drive_queue_timeout?/queued
--- response_body
/queued: 1: HTTP/1.1 503 Service Temporarily Unavailable; body: Content-Length 55, 55 bytes: b'503 Service Unavailable: the application is overloaded\n'; complete
/blocker: b'blocker released\n'
--- error_log
wsgi_queue_timeout (100 ms)



=== TEST 5: wsgi_queue_timeout takes a time
--- config
    wsgi_queue_timeout soon;
    location / { wsgi_app basic:hello; }
--- must_die
--- error_log
"wsgi_queue_timeout" takes a time such as 30s or 500ms, not "soon"



=== TEST 6: wsgi_buffer_size and wsgi_max_temp_file_size take sizes
--- config
    wsgi_buffer_size lots;
    location / { wsgi_app basic:hello; }
--- must_die
--- error_log
"wsgi_buffer_size" takes a size such as 512, 64k or 1m, not "lots"
