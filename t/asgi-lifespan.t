# asgi_lifespan: an ASGI app's lifespan runs in each worker, startup before
# the worker serves, shutdown when it exits (quit, reload, recycling).
# auto (the default) serves an app that does not do lifespan without it;
# on requires it; off never asks. A failed startup keeps the app from
# serving (500), and says why in the error log.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;")
        unless defined $block->http_config;
    $block->set_value("timeout", 30) unless defined $block->timeout;
});

run_tests();

__DATA__

=== TEST 1: the state set at startup reaches each request as a copy
--- config
    location / { asgi_app asgi_lifespan:with_state; }
--- request eval
["GET /", "GET /"]
--- response_body eval
["hello from startup; startups: 1\n", "hello from startup; startups: 1\n"]
--- no_error_log
[error]



=== TEST 2: one app in two locations has one lifespan
--- config
    location /a { asgi_app asgi_lifespan:with_state; }
    location /b { asgi_app asgi_lifespan:with_state; }
--- request eval
["GET /a", "GET /b"]
--- response_body eval
["hello from startup; startups: 1\n", "hello from startup; startups: 1\n"]



=== TEST 3: asgi_lifespan off: no startup, and no state
--- config
    location / { asgi_lifespan off; asgi_app asgi_lifespan:with_state; }
--- request
GET /
--- response_body
no state; startups: 0



=== TEST 4: shutdown runs when the worker exits
--- config
    location / { asgi_app asgi_lifespan:with_state; }
--- request
GET /
--- response_body
hello from startup; startups: 1
--- shutdown_error_log eval
qr/asgi_lifespan: shutdown complete in \d+/
--- log_level: info



=== TEST 5: a failed startup: the app does not serve (500), and the error log says why
--- config
    location / { asgi_app asgi_lifespan:startup_fails; }
--- request
GET /
--- error_code: 500
--- response_body
500 Internal Server Error: the application failed to load
--- error_log eval
[qr/\[error\] .*wsgi: app "asgi_lifespan:startup_fails" does not serve: lifespan startup failed: no database/,
 qr/wsgi: app "asgi_lifespan:startup_fails" is not available/]



=== TEST 6: a failed startup with a uwsgi_upstream: the container answers
--- config
    location /u/ {
        asgi_app asgi_lifespan:startup_fails;
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT;
    }
--- request
GET /u/server
--- response_body
a
--- error_log
passed to uwsgi_upstream (the app failed to load when the worker started)
--- log_level: info



=== TEST 7: asgi_lifespan auto: an app that refuses the lifespan scope serves without it
--- config
    location / { asgi_app asgi_lifespan:no_lifespan; }
--- request
GET /
--- response_body
served without lifespan; state in scope: False
--- error_log eval
qr/\[info\] .*wsgi: app "asgi_lifespan:no_lifespan" does not do the lifespan protocol \(asgi_lifespan auto\): served without it/
--- no_error_log
[error]
--- log_level: info



=== TEST 8: asgi_lifespan on: the same app does not serve, with its traceback in the error log
--- config
    location / { asgi_lifespan on; asgi_app asgi_lifespan:no_lifespan; }
--- request
GET /
--- error_code: 500
--- error_log eval
[qr/wsgi: app "asgi_lifespan:no_lifespan" does not serve: the app raised on the lifespan scope:/,
 qr/ValueError: only HTTP here, not lifespan/]



=== TEST 9: a failed shutdown is logged when the worker exits
--- config
    location / { asgi_app asgi_lifespan:shutdown_fails; }
--- request
GET /
--- response_body
served
--- shutdown_error_log eval
qr/\[error\] .*wsgi: app "asgi_lifespan:shutdown_fails": lifespan shutdown failed: could not flush/



=== TEST 10: asgi_loop uvloop without uvloop installed: asyncio's loop, and the error log says so
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    asgi_loop uvloop;
--- config
    location / { asgi_app asgi_lifespan:with_state; }
--- request
GET /
--- response_body
hello from startup; startups: 1
--- error_log
asgi_loop uvloop: uvloop does not import (ModuleNotFoundError: No module named 'uvloop'); using asyncio's loop
