# The $wsgi_* variables in log_format (issue "run it in production"): the
# app, the outcome, and the time waiting for a thread and in the app, per
# request, as $upstream_response_time is for the upstream modules.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", <<'HTTP') unless defined $block->http_config;
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 3;
    log_format wsgi 'W $uri $status $wsgi_app $wsgi_outcome $wsgi_queue_time $wsgi_app_time';
    access_log logs/access.log wsgi;
HTTP
    $block->set_value("timeout", 30) unless defined $block->timeout;
});

our $T = qr/\d+\.\d{3}/;

run_tests();

__DATA__

=== TEST 1: ok: the app, and both times with millisecond resolution
--- config
    location /hello { wsgi_app basic:hello; }
--- request
GET /hello
--- access_log eval
qr{^W /hello 200 basic:hello ok $main::T $main::T$}



=== TEST 2: exception (500)
--- config
    location /raises { wsgi_app basic:raises; }
--- request
GET /raises
--- error_code: 500
--- access_log eval
qr{^W /raises 500 basic:raises exception $main::T $main::T$}



=== TEST 3: aborted (cut after its head)
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location /late { wsgi_app basic:raises_after_headers; }
--- request
GET /pipeline?GET%20/late
--- access_log eval
qr{^W /late 200 basic:raises_after_headers aborted $main::T $main::T$}



=== TEST 4: timeout
--- config
    location /busy { wsgi_request_timeout 200ms; wsgi_app timeouts:busy; }
--- request
GET /busy
--- error_code: 504
--- access_log eval
qr{^W /busy 504 timeouts:busy timeout $main::T $main::T$}



=== TEST 5: queue_timeout (the request never ran: no time in the app), and the driver's own line
--- config
    wsgi_queue_timeout 200ms;
    location /drive_queue_timeout { wsgi_app queueing:drive_queue_timeout; }
    location /blocker { wsgi_app queueing:blocker; }
    location /queued { wsgi_app basic:hello; }
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 2;
    log_format wsgi 'W $uri $status $wsgi_app $wsgi_outcome $wsgi_queue_time $wsgi_app_time';
    access_log logs/access.log wsgi;
--- request
GET /drive_queue_timeout?/queued
--- access_log eval
[qr{^W /queued 503 basic:hello queue_timeout 0\.[2-9]\d\d -$}, qr{^W /drive_queue_timeout 200 queueing:drive_queue_timeout ok $main::T $main::T$}]



=== TEST 6: rejected (wsgi_queue 0 and every thread busy)
--- config
    location /drive_queue_timeout { wsgi_app queueing:drive_queue_timeout; }
    location /blocker { wsgi_app queueing:blocker; }
    location /queued { wsgi_app basic:hello; }
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 2;
    wsgi_queue 0;
    log_format wsgi 'W $uri $status $wsgi_app $wsgi_outcome $wsgi_queue_time $wsgi_app_time';
    access_log logs/access.log wsgi;
--- request
GET /drive_queue_timeout?/queued
--- access_log eval
qr{^W /queued 503 basic:hello rejected $main::T -$}



=== TEST 7: client_closed
--- config
    location /drive_disconnect { wsgi_app streaming:drive_disconnect; }
    location /endless { wsgi_app streaming:endless; }
--- request
GET /drive_disconnect?/endless
--- access_log eval
qr{^W /endless 200 streaming:endless client_closed $main::T $main::T$}



=== TEST 8: fallback: the app failed to import, the container answered
--- config
    location /u/ {
        wsgi_app broken_syntax;
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT;
    }
--- request
GET /u/hello
--- access_log eval
qr{^W /u/hello 200 broken_syntax:application fallback - -$}



=== TEST 9: a location without wsgi_app has "-" in every variable
--- config
    location /static { return 200 "static\n"; }
--- request
GET /static
--- access_log eval
qr{^W /static 200 - - - -$}
