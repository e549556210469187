# wsgi_inline: the app called on nginx's event loop, without the hand-off to
# a pool thread, for apps that never block. What the app sees, that the
# response and its body, errors and close() behave as in the thread pool,
# and how the directive is inherited and checked.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;")
        unless defined $block->http_config;
    $block->set_value("no_error_log", "[error]\n[alert]")
        unless defined $block->no_error_log || defined $block->must_die;
});

run_tests();

__DATA__

=== TEST 1: wsgi_inline on: the app runs on the event loop, single-threaded
--- config
    location / { wsgi_inline on; wsgi_app inline:where; }
--- request
GET /
--- response_body
event-loop multithread=False


=== TEST 2: off (the default): the app runs on a pool thread
--- config
    location /off { wsgi_inline off; wsgi_app inline:where; }
    location / { wsgi_app inline:where; }
--- pipelined_requests eval
["GET /off", "GET /"]
--- response_body eval
["pool-thread multithread=True\n", "pool-thread multithread=True\n"]


=== TEST 3: inherited from the server level, overridden in a location
--- config
    wsgi_inline on;
    location /threaded { wsgi_inline off; wsgi_app inline:where; }
    location / { wsgi_app inline:where; }
--- pipelined_requests eval
["GET /", "GET /threaded"]
--- response_body eval
["event-loop multithread=False\n", "pool-thread multithread=True\n"]


=== TEST 4: a response larger than the socket takes is sent in full
--- config
    location / { wsgi_inline on; wsgi_app inline:big; }
--- request
GET /
--- response_body eval
join '', map { chr(65 + $_ % 26) x 65536 } 0 .. 63
--- timeout: 10


=== TEST 5: the request body reaches wsgi.input
--- config
    location / { wsgi_inline on; wsgi_app inline:echo; }
--- request eval
"POST /\n" . ("0123456789" x 10000)
--- response_body eval
"0123456789" x 10000


=== TEST 6: an exception is a 500 with the traceback in the error log
--- config
    location / { wsgi_inline on; wsgi_app inline:fail; }
--- request
GET /
--- error_code: 500
--- error_log
application raised an exception: RuntimeError: inline boom
--- no_error_log
[alert]


=== TEST 7: close() is called once the body is out
--- config
    location /count { wsgi_inline on; wsgi_app inline:closed_count; }
    location / { wsgi_inline on; wsgi_app inline:closing; }
--- pipelined_requests eval
["GET /", "GET /count", "GET /", "GET /count"]
--- response_body eval
["first second\n", "1\n", "first second\n", "2\n"]


=== TEST 8: with every app inline, the worker starts no Python threads
--- config
    location / { wsgi_inline on; wsgi_app inline:threads; }
--- request
GET /
--- response_body
1


=== TEST 9: with one app on the pool, wsgi_threads threads are started
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 3;
--- config
    location /pooled { wsgi_app inline:where; }
    location / { wsgi_inline on; wsgi_app inline:threads; }
--- request
GET /
--- response_body
4


=== TEST 10: wsgi_inline takes on or off
--- config
    location / { wsgi_inline sometimes; wsgi_app inline:where; }
--- must_die
--- error_log
"wsgi_inline" takes "on" or "off", not "sometimes"


=== TEST 11: wsgi_inline is not duplicated
--- config
    location / { wsgi_inline on; wsgi_inline off; wsgi_app inline:where; }
--- must_die
--- error_log
"wsgi_inline" directive is duplicate
