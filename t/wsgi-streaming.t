# Streamed responses under wsgi_app: big generators, chunks that leave as
# they are produced, backpressure from a slow client, close() after a client
# hangs up, close-delimited HTTP/1.0, responses without a body, and a body
# cut short by an error.
#
# Where Test::Nginx cannot see what matters (when a chunk left, whether the
# generator was paused), a driver app in t/apps/streaming.py is the client:
# it talks to nginx over a raw socket and answers what it observed.
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256 sha256_hex sha1_hex);

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;")
        unless defined $block->http_config;
    $block->set_value("no_error_log", "[error]\n[alert]")
        unless defined $block->no_error_log;
});

# The stream of streaming.big: N chunks of 64 KiB, chunk i = sha256("$i") x 2048.
my %Streams;
sub stream {
    my ($n) = @_;
    return $Streams{$n} //= join '', map { sha256("$_") x 2048 } 0 .. $n - 1;
}

run_tests();

__DATA__

=== TEST 1: a 16 MiB response streamed from a generator (chunked)
--- config
    location / { wsgi_app streaming:big; }
--- request
GET /big
--- raw_response_headers_like: Transfer-Encoding: chunked\r\n
--- response_body_filters
sha1_hex
--- response_body eval
main::sha1_hex(main::stream(256))
--- timeout: 20


=== TEST 2: the same with its Content-Length declared
--- config
    location / { wsgi_app streaming:big_length; }
--- request
GET /big
--- response_headers
Content-Length: 16777216
Transfer-Encoding:
--- response_body_filters
sha1_hex
--- response_body eval
main::sha1_hex(main::stream(256))
--- timeout: 20


=== TEST 3: the same through write()
--- config
    location / { wsgi_app streaming:big_write; }
--- request
GET /big
--- response_body_filters
sha1_hex
--- response_body eval
main::sha1_hex(main::stream(256))
--- timeout: 20


=== TEST 4: HTTP/1.0: 16 MiB close-delimited
--- config
    location / { wsgi_app streaming:big; }
--- request
GET /big HTTP/1.0
--- raw_response_headers_like: \AHTTP/1\.[01] 200 OK\r\n
--- response_headers
Transfer-Encoding:
Content-Length:
--- response_body_filters
sha1_hex
--- response_body eval
main::sha1_hex(main::stream(256))
--- timeout: 20


=== TEST 5: a chunk reaches the client while the generator still runs
The driver reads the first chunk of /held while the app waits for /release,
which the driver requests only once it has that chunk.
--- config
    location /drive_held { wsgi_app streaming:drive_held; }
    location /held { wsgi_app streaming:held; }
    location /release { wsgi_app streaming:release; }
--- request
GET /drive_held?/held
--- response_body
the first chunk arrived while the app was still waiting: yes
/release: released
1: HTTP/1.1 200 OK; body: chunked, 35 bytes: b'first chunk\nsecond chunk: released\n'; complete
bytes after the responses: 0
--- timeout: 20


=== TEST 6: write() sends its data before it returns
--- config
    location /drive_held { wsgi_app streaming:drive_held; }
    location /held_write { wsgi_app streaming:held_write; }
    location /release { wsgi_app streaming:release; }
--- request
GET /drive_held?/held_write
--- response_body
the first chunk arrived while the app was still waiting: yes
/release: released
1: HTTP/1.1 200 OK; body: chunked, 35 bytes: b'first chunk\nsecond chunk: released\n'; complete
bytes after the responses: 0
--- timeout: 20


=== TEST 7: a client that hangs up mid-stream stops the iteration, and close() runs
--- config
    location /drive_disconnect { wsgi_app streaming:drive_disconnect; }
    location /endless { wsgi_app streaming:endless; }
--- request
GET /drive_disconnect?/endless
--- response_body
read before hanging up: 1 MiB
close() called: yes
iteration stopped early: yes
--- error_log
streaming: close() called after
client closed the connection while the application was responding
--- timeout: 20


=== TEST 8: a client that hangs up while the app waits between chunks: close() runs
--- config
    location /drive_disconnect_idle { wsgi_app streaming:drive_disconnect_idle; }
    location /held_counted { wsgi_app streaming:held_counted; }
--- request
GET /drive_disconnect_idle?/held_counted
--- response_body
first chunk read: yes
close() called: yes
iteration stopped early: yes
--- error_log
streaming: close() called after
--- timeout: 20


=== TEST 9: a client that stops reading pauses the generator; it goes on when the client reads
--- config
    location /drive_slow { wsgi_app streaming:drive_slow; }
    location /endless { wsgi_app streaming:endless; }
--- request
GET /drive_slow?/endless
--- response_body
paused: yes (well under 64 MiB ahead of the client)
goes on once the client reads: yes
close() called after the hang-up: yes
--- error_log
streaming: paused after
streaming: close() called after
--- timeout: 60


=== TEST 10: 204 and 304 without a body: nothing after the headers, keep-alive goes on
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location /status { wsgi_app basic:status; }
    location /hello { wsgi_app streaming:hello; }
--- request
GET /pipeline?GET%20/status?204%2520No%2520Content|GET%20/status?304%2520Not%2520Modified|GET%20/hello
--- response_body
1: HTTP/1.1 204 No Content; body: none, 0 bytes; complete
2: HTTP/1.1 304 Not Modified; body: none, 0 bytes; complete
3: HTTP/1.1 200 OK; body: Content-Length 13, 13 bytes: b'hello, world\n'; complete
bytes after the responses: 0


=== TEST 11: HEAD carries no body: of a generator, a streamed 16 MiB, or a known length
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location /nobody { wsgi_app streaming:nobody; }
    location /big { wsgi_app streaming:big; }
    location /big_length { wsgi_app streaming:big_length; }
    location /hello { wsgi_app streaming:hello; }
--- request
GET /pipeline?HEAD%20/nobody?200|HEAD%20/big|HEAD%20/big_length|HEAD%20/hello|GET%20/hello
--- response_body
1: HTTP/1.1 200 OK; body: none, 0 bytes; complete
2: HTTP/1.1 200 OK; body: none, 0 bytes; complete
3: HTTP/1.1 200 OK; body: none, 0 bytes; complete
4: HTTP/1.1 200 OK; body: none, 0 bytes; complete
5: HTTP/1.1 200 OK; body: Content-Length 13, 13 bytes: b'hello, world\n'; complete
bytes after the responses: 0
--- timeout: 20


=== TEST 12: HTTP/1.0 with keep-alive asked: a body of unknown length is close-delimited
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location /big { wsgi_app streaming:big; }
    location /hello { wsgi_app streaming:hello; }
--- request
GET /pipeline?GET%20/big?2%20HTTP/1.0|GET%20/hello
--- response_body eval
"1: HTTP/1.1 200 OK; body: close-delimited, 131072 bytes: sha256 " . main::sha256_hex(main::stream(2)) . "; complete\n2: no complete header (0 bytes left: b'')\n"


=== TEST 13: an error after the headers went out: the chunked body lacks its last chunk
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location /fails_midway { wsgi_app streaming:fails_midway; }
--- request
GET /pipeline?GET%20/fails_midway
--- response_body eval
"1: HTTP/1.1 200 OK; body: chunked, 65545 bytes: sha256 " . main::sha256_hex(main::stream(1) . "then boom") . "; INCOMPLETE\nbytes after the responses: 0\n"
--- error_log
RuntimeError: failed midway through the body
--- no_error_log
[alert]


=== TEST 14: an error after the headers went out: a body shorter than its Content-Length, connection closed
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location /fails_midway { wsgi_app streaming:fails_midway; }
--- request
GET /pipeline?GET%20/fails_midway?length|GET%20/fails_midway?length
--- response_body eval
"1: HTTP/1.1 200 OK; body: Content-Length 262144, 65545 bytes: sha256 " . main::sha256_hex(main::stream(1) . "then boom") . "; INCOMPLETE\n2: no complete header (0 bytes left: b'')\n"
--- error_log
RuntimeError: failed midway through the body
--- no_error_log
[alert]


=== TEST 15: 204 and 304 carry no body, even if the app yields one; keep-alive goes on
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location /nobody { wsgi_app streaming:nobody; }
    location /hello { wsgi_app streaming:hello; }
--- request
GET /pipeline?GET%20/nobody?204|GET%20/nobody?304|GET%20/hello
--- response_body
1: HTTP/1.1 204 No Content; body: none, 0 bytes; complete
2: HTTP/1.1 304 Not Modified; body: none, 0 bytes; complete
3: HTTP/1.1 200 OK; body: Content-Length 13, 13 bytes: b'hello, world\n'; complete
bytes after the responses: 0
