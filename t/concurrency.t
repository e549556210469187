# The event loop never waits for Python: requests run in parallel on the
# Python threads of one worker, and nginx serves other connections meanwhile.
use Test::Nginx::Socket 'no_plan';

workers(1);
master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: four requests are in Python at once on one worker with wsgi_threads 5
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 5;
--- config
    location /drive { wsgi_app concurrency:drive; }
    location /barrier { wsgi_app concurrency:barrier_app; }
    location /static { return 200 "from nginx\n"; }
--- request
GET /drive
--- timeout: 30
--- response_body_like: \Apassed=4\n
--- no_error_log
[error]
BrokenBarrierError


=== TEST 2: with too few threads the same requests cannot meet (the test can fail)
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 4;
--- config
    location /drive { wsgi_app concurrency:drive; }
    location /barrier { wsgi_app concurrency:barrier_app; }
    location /static { return 200 "from nginx\n"; }
--- request
GET /drive
--- timeout: 40
--- response_body_like: \Apassed=0\n
--- error_log
BrokenBarrierError
