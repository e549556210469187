# wsgi_app with uwsgi_upstream in the same location: the embedded app
# serves, and the container takes the requests the app cannot (its import
# failed, or the worker's wsgi_queue is full), each logged and counted.
# Also what is particular to uwsgi_upstream: SCRIPT_NAME, wsgi_param,
# variables over the protocol's limit.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: the embedded app serves when it can
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
--- config
    location /u/ {
        wsgi_app basic:hello;
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT;
    }
--- request
GET /u/server
--- response_body
hello, world
--- no_error_log
passed to uwsgi_upstream


=== TEST 2: an app that failed to import falls back to the container
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
--- config
    location /u/ {
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT;
        wsgi_app broken_syntax;
    }
--- request
GET /u/server
--- response_body
a
--- log_level: info
--- error_log
passed to uwsgi_upstream (the app failed to load when the worker started); fallbacks in this worker: 1


=== TEST 3: a full queue falls back to the container
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 1;
    wsgi_queue 0;
--- config
    location /outer { wsgi_app concurrency:outer_body; }
    location /u/ {
        wsgi_app basic:hello;
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT_B;
    }
--- request
GET /outer?/u/server
--- response_body
200 b
--- log_level: info
--- error_log
passed to uwsgi_upstream (all Python threads are busy and wsgi_queue is full); fallbacks in this worker: 1
--- no_error_log
[error]


=== TEST 4: without uwsgi_upstream the full queue is still a 503
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 1;
    wsgi_queue 0;
--- config
    location /outer { wsgi_app concurrency:outer_body; }
    location /u/ { wsgi_app basic:hello; }
--- request
GET /outer?/u/server
--- response_body
503 503 Service Unavailable: the application is overloaded


=== TEST 5: SCRIPT_NAME is the location prefix, as under wsgi_app
--- config
    location /mount/ { uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT; }
--- request
GET /mount/key?SCRIPT_NAME
--- response_body
SCRIPT_NAME=/mount


=== TEST 6: wsgi_param reaches the container
--- config
    location /u/ {
        wsgi_param APP_TIER "blue-$http_x_tier";
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT;
    }
--- request
GET /u/key?APP_TIER
--- more_headers
X-Tier: 7
--- response_body
APP_TIER=blue-7


=== TEST 7: variables over 64 KiB: a 502 and a clear log line, nothing sent
--- config
    location /u/ {
        set $k "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        set $k16 "$k$k$k$k$k$k$k$k$k$k$k$k$k$k$k$k";
        set $k256 "$k16$k16$k16$k16$k16$k16$k16$k16$k16$k16$k16$k16$k16$k16$k16$k16";
        wsgi_param HUGE "$k256$k256";
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT;
    }
--- request
GET /u/hello
--- error_code: 502
--- error_log
uwsgi_upstream: cannot encode the request
