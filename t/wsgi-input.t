# wsgi.input: the request body as nginx stored it (one or several memory
# buffers, or its temp file), read with every method PEP 3333 names; sizes
# from 0 B to 64 MiB; chunked bodies; Expect: 100-continue; the size limit.
#
# The apps (t/apps/bodies.py) answer the length and sha256 of what they
# read; the expected answer is computed here, in Perl, from the body sent.
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;")
        unless defined $block->http_config;
    $block->set_value("no_error_log", "[error]\n[alert]")
        unless defined $block->no_error_log;
});

# A deterministic body of $len bytes: lines of many lengths (empty ones, and
# some longer than 8 KiB), with CR, NUL and 0xFF bytes in them. It starts and
# ends with a letter, so that Test::Nginx does not trim it.
my %Bodies;
sub body_of {
    my ($len) = @_;
    return $Bodies{$len} //= do {
        my ($s, $i) = ('', 0);
        while (length $s < $len) {
            my $n = ($i * 37) % 101;
            $n = 20000 if $i % 97 == 50;
            $s .= $i % 13 == 5 ? "\n" : "L$i:" . (chr(65 + $i % 26) x $n) . "\r\0\xff\n";
            $i++;
        }
        $s = substr($s, 0, $len);
        substr($s, -1, 1) = 'E' if $len;
        $s;
    };
}

# The 64 MiB body of the memory test: 1024 numbered blocks of 64 KiB.
my %Huge;
sub huge_body {
    my ($mib) = @_;
    return $Huge{$mib} //= do {
        my $block = join '', map { chr($_ % 251) } 0 .. 65535 - 8;
        join '', map { sprintf("%07d:", $_) . $block } 0 .. $mib * 16 - 1;
    };
}

# $data in chunked transfer coding, $size bytes a chunk.
sub chunked {
    my ($data, $size, $ext) = @_;
    my $out = '';
    for (my $off = 0; $off < length $data; $off += $size) {
        my $piece = substr($data, $off, $size);
        $out .= sprintf("%x%s\r\n", length $piece, $ext // '') . $piece . "\r\n";
    }
    return $out . "0\r\n\r\n";
}

# What /digest answers after reading $data in full.
sub report {
    my ($data, $cl) = @_;
    $cl //= length $data;
    return "CONTENT_LENGTH=[$cl]\nHTTP_TRANSFER_ENCODING=absent\n"
         . "wsgi.input_terminated=True\n"
         . "read=" . length($data) . " sha256=" . sha256_hex($data) . "\n"
         . "at end: ok\n";
}

# Every way of reading the body, as /digest?... queries.
our @Methods = qw(read read-1 readn=1 readn=7 readn=4096 readn=1000000
                  readline readline-size=1 readline-size=5
                  readline-size=100 readline-size=30000 readlines
                  readlines-hint=1 readlines-hint=50 readlines-hint=20000
                  iter mixed zero);

run_tests();

__DATA__

=== TEST 1: no body: CONTENT_LENGTH is empty, and every read says end of body
--- config
    location / { wsgi_app bodies:digest; }
--- request eval
[map { "GET /digest?$_" } @main::Methods]
--- response_body eval
[map { "CONTENT_LENGTH=[]\nHTTP_TRANSFER_ENCODING=absent\nwsgi.input_terminated=True\nread=0 sha256=" . main::sha256_hex('') . "\nat end: ok\n" } @main::Methods]


=== TEST 2: a 0-byte body (Content-Length: 0)
--- config
    location / { wsgi_app bodies:digest; }
--- more_headers
Content-Length: 0
--- request eval
[map { "POST /digest?$_\n" } @main::Methods]
--- response_body eval
[map { main::report('') } @main::Methods]


=== TEST 3: a 1-byte body
--- config
    location / { wsgi_app bodies:digest; }
--- request eval
[map { "POST /digest?$_\n" . main::body_of(1) } @main::Methods]
--- response_body eval
[map { main::report(main::body_of(1)) } @main::Methods]


=== TEST 4: a 10 KiB body in memory, read every way
(preread in nginx's header buffer, the rest in the body buffer)
--- config
    location / { wsgi_app bodies:digest; }
--- request eval
[map { "POST /digest?$_\n" . main::body_of(10240) } @main::Methods]
--- response_body eval
[map { main::report(main::body_of(10240)) } @main::Methods]
--- no_error_log
[error]
[alert]
a client request body is buffered to a temporary file


=== TEST 5: a body that came in several packets: several memory buffers
--- config
    location / { client_body_buffer_size 64k; wsgi_app bodies:digest; }
--- request eval
my $body = main::body_of(40000);
[map { ["POST /digest?$_\n" . substr($body, 0, 3000),
        {value => substr($body, 3000, 7000), delay_before => 0.02},
        {value => substr($body, 10000, 20000), delay_before => 0.02},
        {value => substr($body, 30000), delay_before => 0.02}] } @main::Methods]
--- response_body eval
[map { main::report(main::body_of(40000)) } @main::Methods]
--- no_error_log
[error]
[alert]
a client request body is buffered to a temporary file


=== TEST 6: a 100 KiB body in nginx's temp file, read every way
--- config
    location / { client_body_buffer_size 1k; wsgi_app bodies:digest; }
--- request eval
[map { "POST /digest?$_\n" . main::body_of(102400) } @main::Methods]
--- response_body eval
[map { main::report(main::body_of(102400)) } @main::Methods]
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]
[alert]


=== TEST 7: client_body_in_file_only: even a small body is read from the file
--- config
    location / { client_body_in_file_only on; wsgi_app bodies:digest; }
--- request eval
[map { "POST /digest?$_\n" . main::body_of(3000) } @main::Methods]
--- response_body eval
[map { main::report(main::body_of(3000)) } @main::Methods]
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]
[alert]


=== TEST 8: an 8 MiB body in memory (several buffers)
--- config
    location / { client_body_buffer_size 16m; wsgi_app bodies:digest; }
--- request eval
[map { "POST /digest?$_\n" . main::body_of(8 << 20) } qw(read readn=65536 readline readline-size=1000 iter)]
--- response_body eval
[map { main::report(main::body_of(8 << 20)) } 1 .. 5]
--- timeout: 20
--- no_error_log
[error]
[alert]
a client request body is buffered to a temporary file


=== TEST 9: an 8 MiB body in the temp file
--- config
    location / { wsgi_app bodies:digest; }
--- request eval
[map { "POST /digest?$_\n" . main::body_of(8 << 20) } qw(read readn=65536 readline readlines-hint=100000 mixed)]
--- response_body eval
[map { main::report(main::body_of(8 << 20)) } 1 .. 5]
--- timeout: 20
--- error_log
a client request body is buffered to a temporary file


=== TEST 10: readline(size) stops at size, or at the newline, or at the end
--- config
    location / { wsgi_app bodies:lines; }
--- request eval
["POST /lines?4\nabcdefghij\nkl\n\n\nmnopqrstuvwxyz",
 "POST /lines?0\nabc\nd",
 "POST /lines?1\nab\n\ncd",
 "POST /lines\nabcdefghij\nkl\n\n\nmnopqrstuvwxyz"]
--- response_body eval
["4 b'abcd'\n4 b'efgh'\n3 b'ij\\n'\n3 b'kl\\n'\n1 b'\\n'\n1 b'\\n'\n4 b'mnop'\n4 b'qrst'\n4 b'uvwx'\n2 b'yz'\n",
 "\n",
 "1 b'a'\n1 b'b'\n1 b'\\n'\n1 b'\\n'\n1 b'c'\n1 b'd'\n",
 "11 b'abcdefghij\\n'\n3 b'kl\\n'\n1 b'\\n'\n1 b'\\n'\n14 b'mnopqrstuvwxyz'\n"]


=== TEST 11: never past CONTENT_LENGTH: the next pipelined request is intact
--- config
    location / { wsgi_app bodies:digest; }
--- pipelined_requests eval
["POST /digest?readn=1000000\n" . main::body_of(100),
 "POST /digest?read-1\n" . main::body_of(5000),
 "POST /digest?readline-size=1000000\n" . main::body_of(300),
 "GET /digest?read"]
--- response_body eval
[main::report(main::body_of(100)),
 main::report(main::body_of(5000)),
 main::report(main::body_of(300)),
 "CONTENT_LENGTH=[]\nHTTP_TRANSFER_ENCODING=absent\nwsgi.input_terminated=True\nread=0 sha256=" . main::sha256_hex('') . "\nat end: ok\n"]


=== TEST 12: a chunked body, de-chunked, with its CONTENT_LENGTH and no Transfer-Encoding
--- config
    location / { wsgi_app bodies:digest; }
--- more_headers
Transfer-Encoding: chunked
--- request eval
[map { "POST /digest?$_\n" . main::chunked(main::body_of(10000), 777) } @main::Methods]
--- response_body eval
[map { main::report(main::body_of(10000)) } @main::Methods]


=== TEST 13: chunked bodies: empty, one byte, chunk extensions, one chunk a byte
--- config
    location / { wsgi_app bodies:digest; }
--- more_headers
Transfer-Encoding: chunked
--- request eval
["POST /digest?read\n0\r\n\r\n",
 "POST /digest?read\n" . main::chunked("x", 1),
 "POST /digest?readline\n" . main::chunked(main::body_of(3000), 100, ";name=value"),
 "POST /digest?iter\n" . main::chunked(main::body_of(500), 1)]
--- response_body eval
[main::report(''), main::report('x'), main::report(main::body_of(3000)),
 main::report(main::body_of(500))]


=== TEST 14: a 100 KiB chunked body in the temp file
--- config
    location / { client_body_buffer_size 1k; wsgi_app bodies:digest; }
--- more_headers
Transfer-Encoding: chunked
--- request eval
[map { "POST /digest?$_\n" . main::chunked(main::body_of(102400), 4000) } @main::Methods]
--- response_body eval
[map { main::report(main::body_of(102400)) } @main::Methods]
--- error_log
a client request body is buffered to a temporary file


=== TEST 15: an 8 MiB chunked body
--- config
    location / { wsgi_app bodies:digest; }
--- more_headers
Transfer-Encoding: chunked
--- request eval
[map { "POST /digest?$_\n" . main::chunked(main::body_of(8 << 20), 65536) } qw(read readn=65536 readline)]
--- response_body eval
[map { main::report(main::body_of(8 << 20)) } 1 .. 3]
--- timeout: 20


=== TEST 16: Expect: 100-continue: the interim response comes before the body is sent
--- config
    location /expect_drive { wsgi_app bodies:expect_drive; }
    location /digest { wsgi_app bodies:digest; }
    location /file/digest { client_body_buffer_size 1k; wsgi_app bodies:digest; }
--- request eval
["GET /expect_drive?/digest?read&20000", "GET /expect_drive?/file/digest?readline&102400",
 "GET /expect_drive?/digest?read&0"]
--- response_body eval
[map { my $body = substr("0123456789abcdef" x 6401, 0, $_);
       "interim: HTTP/1.1 100 Continue\nfinal: HTTP/1.1 200 OK\n" . main::report($body) }
 20000, 102400, 0]


=== TEST 17: a body over client_max_body_size gets nginx's 413; the app is not called
--- config
    location / { client_max_body_size 1k; wsgi_app bodies:digest; }
--- request eval
"POST /digest?read\n" . main::body_of(2048)
--- error_code: 413
--- response_body_like: 413 Request Entity Too Large
--- error_log
client intended to send too large body: 2048 bytes
--- no_error_log
bodies.digest called
[alert]


=== TEST 18: a chunked body over client_max_body_size gets 413 too
--- config
    location / { client_max_body_size 1k; wsgi_app bodies:digest; }
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /digest?read\n" . main::chunked(main::body_of(4096), 500)
--- error_code: 413
--- response_body_like: 413 Request Entity Too Large
--- error_log
client intended to send too large chunked body
--- no_error_log
bodies.digest called
[alert]


=== TEST 19: reading a 64 MiB body in 64 KiB pieces does not cost 64 MiB of memory
The first request, with a 1-byte body, sets the baseline of the worker's
peak RSS; the second reads 64 MiB and reports how much the peak grew.
--- config
    location / { client_max_body_size 100m; wsgi_app bodies:rss; }
--- request eval
["POST /rss?16384\nx", "POST /rss?16384\n" . main::huge_body(64)]
--- response_body eval
[qr/\Aread=1 sha256=\Q${\ main::sha256_hex('x') }\E biggest piece=1\npeak RSS growth within 16384 KiB: yes /,
 qr/\Aread=67108864 sha256=\Q${\ main::sha256_hex(main::huge_body(64)) }\E biggest piece=65536\npeak RSS growth within 16384 KiB: yes /]
--- timeout: 30
