# uwsgi_upstream against real uWSGI containers (scripts/test-upstreams.sh),
# with the same expectations as stock uwsgi_pass: with
# TEST_NGINX_UWSGI_FLAVOR=stock the blocks run on `uwsgi_pass` with
# Debian's uwsgi_params instead, so any difference between the two shows.
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);

no_shuffle();
no_root_location();

our $stock = ($ENV{TEST_NGINX_UWSGI_FLAVOR} || '') eq 'stock';
our $big = join '', map { chr(($_ * 13) % 251) } 0 .. 8 * 1024 * 1024 - 1;

add_block_preprocessor(sub {
    my $block = shift;
    if ($stock) {
        for my $section (qw(config http_config)) {
            my $v = $block->$section // next;
            $v =~ s/\buwsgi_upstream\s/include \/etc\/nginx\/uwsgi_params; uwsgi_pass /g;
            $v =~ s/\buwsgi_upstream_/uwsgi_/g;
            $block->set_value($section, $v);
        }
    }
});

run_tests();

__DATA__

=== TEST 1: GET
--- config
    location /u/ { uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT; }
--- request
GET /u/hello
--- response_body
hello, world
--- response_headers
Content-Length: 13
--- no_error_log
[error]


=== TEST 2: a small POST
--- config
    location /u/ { uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT; }
--- request
POST /u/echo
hello
--- response_body eval
"method=POST length=5 read=5 sha256=" . Digest::SHA::sha256_hex("hello") . "\n"


=== TEST 3: an 8 MiB POST, sent from nginx's temp file
--- config
    client_body_buffer_size 16k;
    location /u/ { uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT; }
--- request eval
"POST /u/echo\n" . $main::big
--- timeout: 20
--- response_body eval
"method=POST length=8388608 read=8388608 sha256=" . Digest::SHA::sha256_hex($main::big) . "\n"


=== TEST 4: a large response
--- config
    location /u/ { uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT; }
--- request
GET /u/big?4194304
--- timeout: 20
--- response_headers
Content-Length: 4194304
--- response_body eval
join('', map { chr($_) } 0 .. 255) x (4194304 / 256)


=== TEST 5: the same without buffering
--- config
    location /u/ {
        uwsgi_upstream_buffering off;
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT;
    }
--- request
GET /u/big?1000000
--- timeout: 20
--- response_body eval
substr(join('', map { chr($_) } 0 .. 255) x 4000, 0, 1000000)


=== TEST 6: an upstream block with two containers, one of them down
--- http_config
    upstream containers {
        server 127.0.0.1:1;
        server 127.0.0.1:$TEST_NGINX_UWSGI_PORT_B;
    }
--- config
    location /u/ { uwsgi_upstream containers; }
--- request
GET /u/server
--- response_body
b
--- error_log
connect() failed (111: Connection refused) while connecting to upstream


=== TEST 7: a backup server takes over when the primary is down
--- http_config
    upstream containers {
        server 127.0.0.1:1;
        server 127.0.0.1:$TEST_NGINX_UWSGI_PORT backup;
    }
--- config
    location /u/ { uwsgi_upstream containers; }
--- request
GET /u/server
--- response_body
a


=== TEST 8: a unix socket
--- config
    location /u/ { uwsgi_upstream unix:$TEST_NGINX_UWSGI_SOCKET; }
--- request
GET /u/hello
--- response_body
hello, world


=== TEST 9: the app's status and headers pass through
--- config
    location /u/ { uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT; }
--- request
GET /u/status
--- error_code: 418
--- response_headers
X-Upstream: yes
--- response_body
teapot


=== TEST 10: a dead upstream is a 502
--- config
    location /u/ { uwsgi_upstream 127.0.0.1:1; }
--- request
GET /u/hello
--- error_code: 502
--- error_log
connect() failed (111: Connection refused) while connecting to upstream


=== TEST 11: an upstream that answers garbage is a 502
--- config
    location /u/ { uwsgi_upstream 127.0.0.1:$TEST_NGINX_JUNK_PORT; }
--- request
GET /u/hello
--- error_code: 502
--- error_log
invalid header


=== TEST 12: read timeout: 504
--- config
    location /u/ {
        uwsgi_upstream_read_timeout 500ms;
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT;
    }
--- request
GET /u/sleep?2
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while reading response header from upstream


=== TEST 13: connect timeout: 504
--- config
    location /u/ {
        uwsgi_upstream_connect_timeout 500ms;
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_BACKLOG_PORT;
    }
--- request
GET /u/hello
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while connecting to upstream


=== TEST 14: send timeout: 504
--- config
    client_body_buffer_size 16k;
    location /u/ {
        uwsgi_upstream_send_timeout 500ms;
        uwsgi_upstream 127.0.0.1:$TEST_NGINX_SILENT_PORT;
    }
--- request eval
"POST /u/echo\n" . $main::big
--- timeout: 20
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while sending request to upstream


=== TEST 15: next_upstream off: no retry on the second server
--- http_config
    upstream containers {
        server 127.0.0.1:1;
        server 127.0.0.1:$TEST_NGINX_UWSGI_PORT_B;
    }
--- config
    location /u/ {
        uwsgi_upstream_next_upstream off;
        uwsgi_upstream containers;
    }
--- request
GET /u/server
--- error_code: 502


=== TEST 16: a chunked upload from the client reaches the container de-chunked
--- config
    location /u/ { uwsgi_upstream 127.0.0.1:$TEST_NGINX_UWSGI_PORT; }
--- raw_request eval
"POST /u/echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
--- response_body eval
"method=POST length=11 read=11 sha256=" . Digest::SHA::sha256_hex("hello world") . "\n"
