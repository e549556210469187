# Responses that fail after they started (issue "nothing lost"): what the app
# produced before the failure reaches the client, then the connection closes
# without completing the message, so the client can tell it was cut. A body
# that was complete stays complete when close() raises afterwards.
#
# Whether the head, the data and the failure reach the event loop in one
# batch or in several is up to thread timing, so the driver (partial.repeat)
# asks for each shape 40 times on fresh connections and tallies what the
# client saw: every try must show the same thing. The "pause" variants make
# the failure arrive in a batch of its own; the list shapes always arrive in
# one batch.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;")
        unless defined $block->http_config;
    $block->set_value("no_error_log", "[alert]\n[crit]")
        unless defined $block->no_error_log;
    $block->set_value("timeout", 30) unless defined $block->timeout;
});

run_tests();

__DATA__

=== TEST 1: a list body shorter than its Content-Length: the 9 bytes arrive, then the connection closes
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /list_short { wsgi_app partial:list_short; }
--- request
GET /repeat?40&/list_short
--- response_body
40 x 1: HTTP/1.1 200 OK; body: Content-Length 10, 9 bytes: b'abcdefghi'; INCOMPLETE; bytes after the responses: 0
--- error_log
the application sent 9 of the 10 bytes of its Content-Length; closing the connection



=== TEST 2: a list whose second item is not bytes (chunked): the first item arrives, no last chunk
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /list_bad_item { wsgi_app partial:list_bad_item; }
--- request
GET /repeat?40&/list_bad_item
--- response_body
40 x 1: HTTP/1.1 200 OK; body: chunked, 5 bytes: b'first'; INCOMPLETE; bytes after the responses: 0
--- error_log
WSGI response body items must be bytes, not str



=== TEST 3: a list whose second item is not bytes, with a Content-Length
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /list_bad_item { wsgi_app partial:list_bad_item; }
--- request
GET /repeat?40&/list_bad_item?length
--- response_body
40 x 1: HTTP/1.1 200 OK; body: Content-Length 100, 5 bytes: b'first'; INCOMPLETE; bytes after the responses: 0
--- error_log
WSGI response body items must be bytes, not str



=== TEST 4: a generator whose second item is not bytes (GeneratorExit reaches it), chunked and with a length, with and without a pause
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /gen_bad_item { wsgi_app partial:gen_bad_item; }
--- request eval
["GET /repeat?40&/gen_bad_item", "GET /repeat?40&/gen_bad_item?length", "GET /repeat?20&/gen_bad_item?pause", "GET /repeat?20&/gen_bad_item?pause,length"]
--- response_body eval
["40 x 1: HTTP/1.1 200 OK; body: chunked, 5 bytes: b'first'; INCOMPLETE; bytes after the responses: 0\n",
 "40 x 1: HTTP/1.1 200 OK; body: Content-Length 100, 5 bytes: b'first'; INCOMPLETE; bytes after the responses: 0\n",
 "20 x 1: HTTP/1.1 200 OK; body: chunked, 5 bytes: b'first'; INCOMPLETE; bytes after the responses: 0\n",
 "20 x 1: HTTP/1.1 200 OK; body: Content-Length 100, 5 bytes: b'first'; INCOMPLETE; bytes after the responses: 0\n"]
--- error_log
WSGI response body items must be bytes, not str
partial: GeneratorExit reached the generator



=== TEST 5: a generator that raises after its first chunk, chunked and with a length, with and without a pause
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /gen_raises { wsgi_app partial:gen_raises; }
--- request eval
["GET /repeat?40&/gen_raises", "GET /repeat?40&/gen_raises?length", "GET /repeat?20&/gen_raises?pause", "GET /repeat?20&/gen_raises?pause,length"]
--- response_body eval
["40 x 1: HTTP/1.1 200 OK; body: chunked, 5 bytes: b'first'; INCOMPLETE; bytes after the responses: 0\n",
 "40 x 1: HTTP/1.1 200 OK; body: Content-Length 100, 5 bytes: b'first'; INCOMPLETE; bytes after the responses: 0\n",
 "20 x 1: HTTP/1.1 200 OK; body: chunked, 5 bytes: b'first'; INCOMPLETE; bytes after the responses: 0\n",
 "20 x 1: HTTP/1.1 200 OK; body: Content-Length 100, 5 bytes: b'first'; INCOMPLETE; bytes after the responses: 0\n"]
--- error_log
RuntimeError: failed after the first chunk



=== TEST 6: write() of 8 bytes under a Content-Length of 9, with and without a pause
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /write_short { wsgi_app partial:write_short; }
--- request eval
["GET /repeat?40&/write_short", "GET /repeat?20&/write_short?pause"]
--- response_body eval
["40 x 1: HTTP/1.1 200 OK; body: Content-Length 9, 8 bytes: b'12345678'; INCOMPLETE; bytes after the responses: 0\n",
 "20 x 1: HTTP/1.1 200 OK; body: Content-Length 9, 8 bytes: b'12345678'; INCOMPLETE; bytes after the responses: 0\n"]
--- error_log
the application sent 8 of the 9 bytes of its Content-Length; closing the connection



=== TEST 7: wsgi.file_wrapper over a file shorter than the declared Content-Length
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /file_short { wsgi_app partial:file_short; }
--- request
GET /repeat?40&/file_short
--- response_body
40 x 1: HTTP/1.1 200 OK; body: Content-Length 10, 5 bytes: b'12345'; INCOMPLETE; bytes after the responses: 0
--- error_log
the application sent 5 of the 10 bytes of its Content-Length; closing the connection



=== TEST 8: close() raises after a complete body: the client gets the whole response, chunked or with a length
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /close_raises { wsgi_app partial:close_raises; }
--- request eval
["GET /repeat?40&/close_raises", "GET /repeat?40&/close_raises?length"]
--- response_body eval
["40 x 1: HTTP/1.1 200 OK; body: chunked, 14 bytes: b'complete body\\n'; complete; bytes after the responses: 0\n",
 "40 x 1: HTTP/1.1 200 OK; body: Content-Length 14, 14 bytes: b'complete body\\n'; complete; bytes after the responses: 0\n"]
--- error_log
close() of the response raised an exception: RuntimeError: close() failed after a complete body



=== TEST 9: a generator stopped at its Content-Length whose cleanup raises: the whole response arrives
--- config
    location /repeat { wsgi_app partial:repeat; }
    location /gen_close_raises { wsgi_app partial:gen_close_raises; }
--- request
GET /repeat?40&/gen_close_raises
--- response_body
40 x 1: HTTP/1.1 200 OK; body: Content-Length 6, 6 bytes: b'whole\n'; complete; bytes after the responses: 0
--- error_log
close() of the response raised an exception: RuntimeError: cleanup failed in the generator



=== TEST 10: keep-alive after a complete response whose close() raised goes on
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location /close_raises { wsgi_app partial:close_raises; }
    location /hello { wsgi_app streaming:hello; }
--- request
GET /pipeline?GET%20/close_raises?length|GET%20/hello
--- response_body
1: HTTP/1.1 200 OK; body: Content-Length 14, 14 bytes: b'complete body\n'; complete
2: HTTP/1.1 200 OK; body: Content-Length 13, 13 bytes: b'hello, world\n'; complete
bytes after the responses: 0
