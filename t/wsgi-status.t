# wsgi_status (issue "run it in production"): every worker's figures from a
# shared zone, as Prometheus text (checked with the real parser,
# prometheus_client) and JSON; the counters move as requests are made, and
# survive worker recycling.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
master_on();
workers(1);
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("timeout", 30) unless defined $block->timeout;
});

run_tests();

__DATA__

=== TEST 1: the counters move as requests are made; the exposition parses; JSON agrees
--- http_config
    wsgi_python_home $TEST_NGINX_FRAMEWORKS_VENV;
    wsgi_python_path $TEST_NGINX_APPS;
--- config
    location /check { wsgi_app status_check:check; }
    location /hello { wsgi_app basic:hello; }
    location /raises { wsgi_app basic:raises; }
    location /wsgi_status { wsgi_status; }
--- request
GET /check
--- response_body
hello 2xx: +3
raises 5xx: +2
raises exceptions: +2
hello exceptions: +0
hello time in the app, count: +3
hello time in the app, le=+Inf: +3
hello queue wait, count: +3
workers: 1
json: application/json, hello 2xx as in the text: yes
text: text/plain; version=0.0.4; charset=utf-8



=== TEST 2: figures survive recycling; a recycling worker still answers, and counts its recycle
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_max_requests 3;
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location /hello { wsgi_app basic:hello; }
    location /wsgi_status { wsgi_status; }
--- request eval
["GET /hello", "GET /hello", "GET /pipeline?GET%20/hello|GET%20/wsgi_status", "GET /hello", "GET /hello", "GET /wsgi_status"]
--- response_body_like eval
["hello", "hello", qr/^1: HTTP\/1.1 200 OK; .*\n2: HTTP\/1.1 200 OK; body: Content-Length \d+, \d+ bytes: sha256 \w+; complete\n/,
 "hello", "hello",
 qr/(?=.*^ngx_wsgi_requests_total\{app="basic:hello",class="2xx"\} 5$)(?=.*^ngx_wsgi_requests_total\{app="streaming:pipeline",class="2xx"\} 1$)(?=.*^ngx_wsgi_worker_recycles_total\{reason="max_requests"\} 1$)/sm]
--- no_error_log
[alert]



=== TEST 3: a worker recycling after wsgi_max_requests says so at notice, before the request that reached the count is answered
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_max_requests 1;
--- config
    location /hello { wsgi_app basic:hello; }
--- request
GET /hello
--- response_body
hello, world
--- error_log eval
qr/\[notice\] .*wsgi: recycling this worker: it has served 1 requests \(wsgi_max_requests\); it takes no new connections, finishes its requests and exits, and the master starts a new one/



=== TEST 4: wsgi_status without wsgi_status_zone gets a zone of its own; a zone too small fails nginx -t
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_status_zone 16k;
--- config
    location /wsgi_status { wsgi_status; }
--- must_die
--- error_log eval
qr/"wsgi_status_zone" of 16384 bytes is too small: it needs at least \d+ bytes \(room for one worker\)/



=== TEST 5: wsgi_status_zone takes a size
--- http_config
    wsgi_status_zone big;
--- config
    location /wsgi_status { wsgi_status; }
--- must_die
--- error_log
"wsgi_status_zone" takes a size such as 512, 64k or 1m, not "big"



=== TEST 6: only GET and HEAD
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
--- config
    location /wsgi_status { wsgi_status; }
--- request
POST /wsgi_status
--- error_code: 405
