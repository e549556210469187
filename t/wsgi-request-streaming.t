# wsgi_request_buffering off (issue "uploads"): the app is called as soon
# as the request's head is in, and reads the body as it arrives; a client
# that sends faster than the app reads is held back; nginx's body limits
# still hold, and a body that ends early makes the app's read raise an
# OSError while the client gets 413 or 408. The drivers in
# t/apps/uploads.py are the uploading clients, step by step.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
worker_connections(256);
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;\n    wsgi_threads 3;")
        unless defined $block->http_config;
    $block->set_value("timeout", 90) unless defined $block->timeout;
    $block->set_value("no_error_log", "[alert]\n[crit]") unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: the app reads the first piece of the body before the client sends the second (Content-Length)
--- config
    wsgi_request_buffering off;
    location /drive_early { wsgi_app uploads:drive_early; }
    location /reader { wsgi_app uploads:reader; }
--- request
GET /drive_early?/reader
--- response_body
the app read the first piece before the second was sent: yes
HTTP/1.1 200 OK; CONTENT_LENGTH=131072 input_terminated=True read=131072 sha256=the expected sha256; complete



=== TEST 2: the same with a chunked body: no CONTENT_LENGTH, wsgi.input_terminated
--- config
    wsgi_request_buffering off;
    location /drive_early { wsgi_app uploads:drive_early; }
    location /reader { wsgi_app uploads:reader; }
--- request
GET /drive_early?/reader&chunked
--- response_body
the app read the first piece before the second was sent: yes
HTTP/1.1 200 OK; CONTENT_LENGTH=<absent> input_terminated=True read=131072 sha256=the expected sha256; complete



=== TEST 3: with buffering on (the default) the app is only called with the whole body
--- config
    location /drive_early { wsgi_app uploads:drive_early; }
    location /reader { wsgi_app uploads:reader; }
--- request
GET /drive_early?/reader&wait=2
--- response_body
the app read the first piece before the second was sent: NO
HTTP/1.1 200 OK; CONTENT_LENGTH=131072 input_terminated=True read=131072 sha256=the expected sha256; complete



=== TEST 4: a client faster than the app is held back; every byte arrives once the app reads on
--- config
    wsgi_request_buffering off;
    location /drive_backpressure { wsgi_app uploads:drive_backpressure; }
    location /reader { client_max_body_size 100m; wsgi_app uploads:reader; }
--- request
GET /drive_backpressure?64
--- response_body
the client was held back while the app did not read: yes (well under the body)
the app had read one piece meanwhile: yes
HTTP/1.1 200 OK; CONTENT_LENGTH=67108864 input_terminated=True read=67108864 sha256=the expected sha256; complete



=== TEST 5: over client_max_body_size while streaming: the client gets 413, the app's read raises OSError, close() runs
--- config
    wsgi_request_buffering off;
    location /drive_failure { wsgi_app uploads:drive_failure; }
    location /failing_reader { client_max_body_size 1m; wsgi_app uploads:failing_reader; }
--- request
GET /drive_failure?/failing_reader&big
--- response_body
client got: HTTP/1.1 413 Request Entity Too Large; 413 Request Entity Too Large: the request body is too large; complete
app: read raised OSError: the request body is larger than client_max_body_size; close() ran



=== TEST 6: the client stalls past client_body_timeout: 408, and the app's read raises TimeoutError
--- config
    wsgi_request_buffering off;
    client_body_timeout 500ms;
    location /drive_failure { wsgi_app uploads:drive_failure; }
    location /failing_reader { wsgi_app uploads:failing_reader; }
--- request
GET /drive_failure?/failing_reader&stall
--- response_body
client got: HTTP/1.1 408 Request Time-out; 408 Request Timeout: the request body did not arrive in time; complete
app: read raised TimeoutError: the client sent no body for client_body_timeout; close() ran



=== TEST 7: the client leaves mid-body: the app's read raises ConnectionAbortedError (an OSError), close() runs
--- config
    wsgi_request_buffering off;
    location /drive_failure { wsgi_app uploads:drive_failure; }
    location /failing_reader { wsgi_app uploads:failing_reader; }
--- request
GET /drive_failure?/failing_reader&leave
--- response_body
client got: (none: the client left)
app: read raised ConnectionAbortedError: the client closed the connection while sending the body; close() ran



=== TEST 8: an app that answers without reading the body: the answer arrives whole, then nginx closes the connection
--- config
    wsgi_request_buffering off;
    location /drive_ignored { wsgi_app uploads:drive_ignored; }
    location /ignorer { wsgi_app uploads:ignorer; }
--- request
GET /drive_ignored
--- response_body
HTTP/1.1 200 OK; ignored; complete



=== TEST 9: an HTTP/2 body without a length streams whole
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    wsgi_threads 3;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 http2;
        client_max_body_size 100m;
        wsgi_request_buffering off;
        location /reader { wsgi_app uploads:reader; }
    }
--- config
    location /drive_h2 { wsgi_param H2_PORT $TEST_NGINX_RAND_PORT_1; wsgi_app uploads:drive_h2; }
--- request
GET /drive_h2
--- response_body
CONTENT_LENGTH=<absent> input_terminated=True read=3145728 sha256=the expected sha256



=== TEST 10: wsgi_request_buffering takes on or off
--- config
    wsgi_request_buffering maybe;
    location / { wsgi_app basic:hello; }
--- must_die
--- error_log
"wsgi_request_buffering" takes "on" or "off", not "maybe"
