# The wsgi_* and asgi_* directives: what each does, and how wrong arguments fail
# `nginx -t` with a message naming the directive and the problem.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: wsgi_app takes MODULE and defaults CALLABLE to "application"
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
--- config
    location / { wsgi_app default_callable; }
--- request
GET /
--- response_body
default callable


=== TEST 2: wsgi_python_path at every level, location entries first
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_python_path /tmp/ngx-wsgi-http-level;
--- config
    wsgi_python_path /tmp/ngx-wsgi-server-level;
    location / {
        wsgi_python_path /tmp/ngx-wsgi-location-level;
        wsgi_app basic:sys_path;
    }
--- request
GET /
--- response_body_like: \A/tmp/ngx-wsgi-location-level\n/tmp/ngx-wsgi-server-level\n.*/apps\n/tmp/ngx-wsgi-http-level\n
--- error_log
"wsgi_python_path" directory "/tmp/ngx-wsgi-location-level" does not exist


=== TEST 3: wsgi_python_home: a virtualenv's packages import
--- http_config
    wsgi_python_home $TEST_NGINX_VENV;
    wsgi_python_path $TEST_NGINX_APPS;
--- config
    location / { wsgi_app venv_probe; }
--- request
GET /
--- response_body_like: ^prefix=\S+/test-venv base_prefix=/usr marker=from the test venv$
--- no_error_log
[error]


=== TEST 4: with wsgi_threads 2 and wsgi_queue 0, a second request still finds a thread
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 2;
    wsgi_queue 0;
--- config
    location /outer { wsgi_app concurrency:outer; }
    location /inner { wsgi_app basic:hello; }
--- request
GET /outer
--- response_body
inner answered 200
--- no_error_log
[error]


=== TEST 5: the queue is full: 503 with a plain body and a log line
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 1;
    wsgi_queue 0;
--- config
    location /outer { wsgi_app concurrency:outer; }
    location /inner { wsgi_app basic:hello; }
--- request
GET /outer
--- response_body
inner answered 503: 503 Service Unavailable: the application is overloaded
--- error_log
all Python threads are busy and the queue of app "basic:hello" is full (wsgi_queue)


=== TEST 6: wsgi_threads 0 is refused
--- http_config
    wsgi_threads 0;
--- config
--- must_die
--- error_log
"wsgi_threads" must be a number from 1 to 1024, not "0"


=== TEST 7: wsgi_threads must be a number
--- http_config
    wsgi_threads many;
--- config
--- must_die
--- error_log
"wsgi_threads" must be a number from 1 to 1024, not "many"


=== TEST 8: wsgi_queue must be a number
--- http_config
    wsgi_queue -1;
--- config
--- must_die
--- error_log
"wsgi_queue" must be a number from 0 to 65536, not "-1"


=== TEST 9: wsgi_app needs a Python module name
--- config
    location / { wsgi_app "my-app.py"; }
--- must_die
--- error_log
invalid application "my-app.py" in "wsgi_app": "my-app.py" is not a Python module name


=== TEST 10: wsgi_app's callable must be an attribute name
--- config
    location / { wsgi_app "app:make_app()"; }
--- must_die
--- error_log
"make_app()" is not a Python attribute name


=== TEST 11: wsgi_app twice in one location
--- config
    location / { wsgi_app a; wsgi_app b; }
--- must_die
--- error_log
"wsgi_app" directive is duplicate


=== TEST 12: wsgi_app belongs in a location
--- config
    wsgi_app basic:hello;
--- must_die
--- error_log
"wsgi_app" directive is not allowed here


=== TEST 13: wsgi_python_home must exist
--- http_config
    wsgi_python_home /nonexistent/venv;
--- config
--- must_die
--- error_log
"wsgi_python_home" directory "/nonexistent/venv" does not exist


=== TEST 14: wsgi_param cannot set the server's wsgi.* keys
--- config
    location / { wsgi_param wsgi.input x; wsgi_app basic:hello; }
--- must_die
--- error_log
"wsgi_param" cannot set the server's own key "wsgi.input"


=== TEST 15: wsgi_param's third argument can only be if_not_empty
--- config
    location / { wsgi_param A b always; wsgi_app basic:hello; }
--- must_die
--- error_log
invalid parameter "always" in "wsgi_param"


=== TEST 16: wsgi_param needs a name and a value
--- config
    location / { wsgi_param A; wsgi_app basic:hello; }
--- must_die
--- error_log
invalid number of arguments in "wsgi_param" directive


=== TEST 17: uwsgi_upstream_read_timeout takes a time
--- config
    location / { uwsgi_upstream_read_timeout soon; uwsgi_upstream 127.0.0.1:1; }
--- must_die
--- error_log
"uwsgi_upstream_read_timeout" takes a time such as 30s or 500ms, not "soon"


=== TEST 18: modifiers are bytes
--- config
    location / { uwsgi_upstream_modifier1 256; uwsgi_upstream 127.0.0.1:1; }
--- must_die
--- error_log
"uwsgi_upstream_modifier1" must be a number from 0 to 255, not "256"


=== TEST 19: uwsgi_upstream_buffering is on or off
--- config
    location / { uwsgi_upstream_buffering maybe; uwsgi_upstream 127.0.0.1:1; }
--- must_die
--- error_log
"uwsgi_upstream_buffering" takes "on" or "off", not "maybe"


=== TEST 20: uwsgi_upstream_next_upstream knows its values
--- config
    location / { uwsgi_upstream_next_upstream error http_999; uwsgi_upstream 127.0.0.1:1; }
--- must_die
--- error_log
invalid value "http_999" in "uwsgi_upstream_next_upstream"


=== TEST 21: "off" stands alone in uwsgi_upstream_next_upstream
--- config
    location / { uwsgi_upstream_next_upstream off error; uwsgi_upstream 127.0.0.1:1; }
--- must_die
--- error_log
"off" cannot be combined with other values in "uwsgi_upstream_next_upstream"


=== TEST 22: uwsgi_upstream twice in one location
--- config
    location / { uwsgi_upstream 127.0.0.1:1; uwsgi_upstream 127.0.0.1:2; }
--- must_die
--- error_log
"uwsgi_upstream" directive is duplicate


=== TEST 23: uwsgi_upstream belongs in a location
--- config
    uwsgi_upstream 127.0.0.1:1;
--- must_die
--- error_log
"uwsgi_upstream" directive is not allowed here


=== TEST 24: asgi_app: the callable defaults to "app"
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
--- config
    location / { asgi_app asgi_default_callable; }
--- request
GET /
--- response_body
the default callable of asgi_app is app


=== TEST 25: wsgi_app and asgi_app exclude each other in a location
--- config
    location / { wsgi_app basic:hello; asgi_app asgi_http:quick; }
--- must_die
--- error_log
"asgi_app": the location has an application already ("wsgi_app" and "asgi_app" exclude each other)


=== TEST 26: asgi_app twice in one location
--- config
    location / { asgi_app a; asgi_app b; }
--- must_die
--- error_log
"asgi_app" directive is duplicate


=== TEST 27: asgi_lifespan takes auto, on or off
--- config
    location / { asgi_lifespan maybe; asgi_app asgi_http:quick; }
--- must_die
--- error_log
"asgi_lifespan" takes "auto", "on", "off", not "maybe"


=== TEST 28: asgi_loop takes auto, asyncio or uvloop, at the http level
--- http_config
    asgi_loop trio;
--- config
    location / { asgi_app asgi_http:quick; }
--- must_die
--- error_log
"asgi_loop" takes "auto", "asyncio", "uvloop", not "trio"


=== TEST 29: an ASGI app that fails to import: 500, and the traceback
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
--- config
    location / { asgi_app broken_syntax; }
--- request
GET /
--- error_code: 500
--- error_log eval
[qr/wsgi: failed to load app "broken_syntax:app"/, qr/SyntaxError/]


=== TEST 30: python_path and python_home are wsgi_python_path and wsgi_python_home by other names
--- http_config
    python_home $TEST_NGINX_VENV;
    python_path $TEST_NGINX_APPS;
--- config
    location / { asgi_app asgi_default_callable; }
    location /venv { wsgi_app venv_probe; }
--- request eval
["GET /", "GET /venv"]
--- response_body_like eval
["the default callable of asgi_app is app", "test-venv"]


=== TEST 31: python_path names itself in its errors
--- http_config
    python_path "";
--- config
    location / { asgi_app asgi_default_callable; }
--- must_die
--- error_log
"python_path" needs a directory


=== TEST 32: asgi_websocket_max_message_size takes a size
--- config
    location / { asgi_websocket_max_message_size lots; asgi_app asgi_http:quick; }
--- must_die
--- error_log
"asgi_websocket_max_message_size" takes a size such as 512, 64k or 1m, not "lots"
