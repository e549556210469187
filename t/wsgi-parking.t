# No slow client may hold a Python thread (issue "nothing pinned"): a
# response whose client is behind parks and its thread goes back to the
# pool; write(), which must block, spills to a temp file. The drivers in
# t/apps/parking.py are the slow clients: they stop reading, and meanwhile
# ask for something that needs a thread. Without parking that request could
# never be served while they do not read: no wall-clock threshold decides.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;\n    wsgi_threads 2;")
        unless defined $block->http_config;
    $block->set_value("no_error_log", "[error]\n[alert]\n[crit]")
        unless defined $block->no_error_log;
    $block->set_value("timeout", 90) unless defined $block->timeout;
});

run_tests();

__DATA__

=== TEST 1: ten slow readers of 16 MiB generators, two threads (one is the driver's): another request is served while they stream, and they get every byte
--- config
    location /drive_slow_readers { wsgi_app parking:drive_slow_readers; }
    location /stream { wsgi_app parking:stream; }
    location /inside { wsgi_app parking:inside; }
--- request
GET /drive_slow_readers?10&256&/stream
--- response_body
slow readers started: 10 of 10
/inside answered while they stream: open streams: 10
10 x 1: HTTP/1.1 200 OK; body: chunked, 16777216 bytes: the expected 256 chunks; complete



=== TEST 2: the same with list bodies (all in memory, with a Content-Length)
--- config
    location /drive_slow_readers { wsgi_app parking:drive_slow_readers; }
    location /stream_list { wsgi_app parking:stream_list; }
    location /inside { wsgi_app parking:inside; }
--- request
GET /drive_slow_readers?10&64&/stream_list
--- response_body
slow readers started: 10 of 10
/inside answered while they stream: open streams: 10
10 x 1: HTTP/1.1 200 OK; body: Content-Length 4194304, 4194304 bytes: the expected 64 chunks; complete



=== TEST 3: parking with a small wsgi_buffer_size, many times per response
--- config
    wsgi_buffer_size 16k;
    location /drive_slow_readers { wsgi_app parking:drive_slow_readers; }
    location /stream { wsgi_app parking:stream; }
    location /inside { wsgi_app parking:inside; }
--- request
GET /drive_slow_readers?4&128&/stream
--- response_body
slow readers started: 4 of 4
/inside answered while they stream: open streams: 4
4 x 1: HTTP/1.1 200 OK; body: chunked, 8388608 bytes: the expected 128 chunks; complete



=== TEST 4: write() to a client that does not read spills to a temp file: the app returns, the client gets every byte later
--- config
    location /drive_slow_write { wsgi_app parking:drive_slow_write; }
    location /big_write { wsgi_app parking:big_write; }
--- request
GET /drive_slow_write?1024
--- response_body
write() returned for every chunk while the client did not read: yes
1: HTTP/1.1 200 OK; body: chunked, 67108864 bytes: the expected 1024 chunks; complete



=== TEST 5: the same with sendfile on, and a wsgi_temp_path of its own
--- config
    sendfile on;
    wsgi_temp_path wsgi_spill;
    location /drive_slow_write { wsgi_app parking:drive_slow_write; }
    location /big_write { wsgi_app parking:big_write; }
--- request
GET /drive_slow_write?256
--- response_body
write() returned for every chunk while the client did not read: yes
1: HTTP/1.1 200 OK; body: chunked, 16777216 bytes: the expected 256 chunks; complete



=== TEST 6: past wsgi_max_temp_file_size, write() waits for the client, then goes on
--- config
    wsgi_max_temp_file_size 2m;
    location /drive_bounded_write { wsgi_app parking:drive_bounded_write; }
    location /big_write { wsgi_app parking:big_write; }
--- request
GET /drive_bounded_write?256&2097152
--- response_body
write() stopped near the temp file bound: yes
1: HTTP/1.1 200 OK; body: chunked, 16777216 bytes: the expected 256 chunks; complete
write() returned once the client read: yes



=== TEST 7: wsgi_max_temp_file_size 0: write() never spills, it waits
--- config
    wsgi_max_temp_file_size 0;
    location /drive_bounded_write { wsgi_app parking:drive_bounded_write; }
    location /big_write { wsgi_app parking:big_write; }
--- request
GET /drive_bounded_write?256&0
--- response_body
write() stopped near the temp file bound: yes
1: HTTP/1.1 200 OK; body: chunked, 16777216 bytes: the expected 256 chunks; complete
write() returned once the client read: yes



=== TEST 8: the temp path is gone: write() logs why it cannot spill and waits for the client instead
--- config
    wsgi_temp_path wsgi_gone;
    location /drive_bounded_write { wsgi_app parking:drive_bounded_write; }
    location /big_write { wsgi_app parking:big_write; }
--- request
GET /drive_bounded_write?256&0&wsgi_gone
--- response_body
write() stopped near the temp file bound: yes
1: HTTP/1.1 200 OK; body: chunked, 16777216 bytes: the expected 256 chunks; complete
write() returned once the client read: yes
--- error_log
write() cannot spill to a temp file (cannot create a temp file in
--- no_error_log
[alert]



=== TEST 9: a wsgi_temp_path nginx cannot create fails at start
--- config
    wsgi_temp_path /proc/ngx-wsgi-no-such-dir;
    location / { wsgi_app basic:hello; }
--- must_die
--- error_log
/proc/ngx-wsgi-no-such-dir
