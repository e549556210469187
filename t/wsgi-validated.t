# The suites' good-path apps under wsgiref.validate.validator
# (t/apps/validated.py): the apps are correct, so any assertion of the
# validator, a 500 and a traceback in the error log, is a PEP 3333
# violation by the server (environ, wsgi.input, wsgi.errors,
# start_response, write(), close()).
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256 sha256_hex sha1_hex);

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;")
        unless defined $block->http_config;
    $block->set_value("no_error_log",
        "[error]\n[alert]\nAssertionError\nTraceback\n"
        . "garbage collected without being closed")
        unless defined $block->no_error_log;
});

# The bodies of t/wsgi-input.t (see there).
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

sub chunked {
    my ($data, $size) = @_;
    my $out = '';
    for (my $off = 0; $off < length $data; $off += $size) {
        my $piece = substr($data, $off, $size);
        $out .= sprintf("%x\r\n", length $piece) . $piece . "\r\n";
    }
    return $out . "0\r\n\r\n";
}

sub report {
    my ($data, $cl) = @_;
    $cl //= length $data;
    return "CONTENT_LENGTH=[$cl]\nHTTP_TRANSFER_ENCODING=absent\n"
         . "wsgi.input_terminated=True\n"
         . "read=" . length($data) . " sha256=" . sha256_hex($data) . "\n"
         . "at end: ok\n";
}

# The stream of t/wsgi-streaming.t (see there).
my %Streams;
sub stream {
    my ($n) = @_;
    return $Streams{$n} //= join '', map { sha256("$_") x 2048 } 0 .. $n - 1;
}

# Every way of reading wsgi.input the validator allows (read() needs a size).
our @Methods = qw(read-1 readn=1 readn=7 readn=4096 readn=1000000
                  readline readline-size=1 readline-size=5
                  readline-size=100 readline-size=30000 readlines
                  readlines-hint=1 readlines-hint=50 readlines-hint=20000
                  iter mixed zero);

run_tests();

__DATA__

=== TEST 1: a one-element list, GET and HEAD
--- config
    location / { wsgi_app validated:hello; }
--- request eval
["GET /", "HEAD /", "GET /?a=1&b=%20x"]
--- response_body eval
["hello, world\n", "", "hello, world\n"]


=== TEST 2: SCRIPT_NAME and PATH_INFO of prefix, exact and regex locations
--- config
    location /app/ { wsgi_app validated:paths; }
    location /noslash { wsgi_app validated:paths; }
    location = /exact { wsgi_app validated:paths; }
    location ~ ^/re/ { wsgi_app validated:paths; }
    location / { wsgi_app validated:paths; }
--- request eval
["GET /app/x/y", "GET /app/", "GET /noslash", "GET /noslash/z", "GET /exact",
 "GET /re/a%20b", "GET /", "GET /%C3%A9t%C3%A9?q"]
--- response_body_like eval
['\ASCRIPT_NAME=\[/app\] PATH_INFO=\[/x/y\]\n\z', '\ASCRIPT_NAME=\[/app\] PATH_INFO=\[/\]\n\z',
 '\ASCRIPT_NAME=\[/noslash\] PATH_INFO=\[\]\n\z', '\ASCRIPT_NAME=\[/noslash\] PATH_INFO=\[/z\]\n\z',
 '\ASCRIPT_NAME=\[\] PATH_INFO=\[/exact\]\n\z', '\ASCRIPT_NAME=\[\] PATH_INFO=\[/re/a b\]\n\z',
 '\ASCRIPT_NAME=\[\] PATH_INFO=\[/\]\n\z', '\ASCRIPT_NAME=\[\] PATH_INFO=\[/\xc3\xa9t\xc3\xa9\]\n\z']


=== TEST 3: the environ of odd requests: headers repeated, latin-1 bytes, a body with a Content-Type
--- config
    location / { wsgi_app validated:environ_json; }
--- more_headers eval
["X-Rep: 1\nX-Rep: 2\nCookie: a=1\nCookie: b=2\nX-Latin: caf\xe9\nAccept: */*",
 "Content-Type: application/x-www-form-urlencoded",
 "Content-Type: text/plain\nTransfer-Encoding: chunked",
 ""]
--- request eval
["GET /p?x=%41&y", "POST /\na=1&b=2", "POST /\n" . main::chunked("hello", 2), "DELETE /x"]
--- response_body_like eval
['"HTTP_COOKIE": "a=1; b=2".*"HTTP_X_LATIN": "caf\\\\u00e9".*"HTTP_X_REP": "1, 2"',
 '"CONTENT_LENGTH": "7", "CONTENT_TYPE": "application/x-www-form-urlencoded"',
 '"CONTENT_LENGTH": "5", "CONTENT_TYPE": "text/plain"',
 '"REQUEST_METHOD": "DELETE"']


=== TEST 4: the other good-path apps of basic.py
--- config
    location /one_key { wsgi_app validated:one_key; }
    location /gen { wsgi_app validated:gen; }
    location /empty_chunks { wsgi_app validated:empty_chunks; }
    location /with_write { wsgi_app validated:with_write; }
    location /headers { wsgi_app validated:headers; }
    location /server_header { wsgi_app validated:server_header; }
    location /sys_path { wsgi_app validated:sys_path; }
    location /exc_info_replaces { wsgi_app validated:exc_info_replaces; }
--- request eval
["GET /one_key?SERVER_PROTOCOL", "GET /gen", "GET /gen HTTP/1.0", "GET /empty_chunks",
 "GET /with_write", "GET /headers", "GET /server_header", "GET /sys_path",
 "GET /exc_info_replaces"]
--- error_code eval
[200, 200, 200, 200, 200, 201, 200, 200, 503]
--- response_body_like eval
['\ASERVER_PROTOCOL=HTTP/1.1\n\z', '\Achunk 0\nchunk 1\nchunk 2\n\z', '\Achunk 0\nchunk 1\nchunk 2\n\z',
 '\Aab\n\z', '\Awritten then returned\n\z', '\Acreated\n\z', '\Aok\n\z', 't/apps',
 '\Areplaced by the error page\n\z']


=== TEST 5: 204 and 304
--- config
    location / { wsgi_app validated:status; }
--- request eval
["GET /?204%20No%20Content", "GET /?304%20Not%20Modified"]
--- error_code eval
[204, 304]
--- response_body eval
["", ""]


=== TEST 6: close() of the response is called (it writes to wsgi.errors)
--- config
    location / { wsgi_app validated:closing; }
--- request
GET /
--- response_body
part one
part two
--- error_log
close() was called
--- no_error_log
[alert]
AssertionError
garbage collected without being closed
Traceback


=== TEST 7: wsgi.input: no body, and 0, 1 and 10 KiB bodies in memory, read every way
--- config
    location / { wsgi_app validated:digest; }
--- request eval
[(map { "GET /digest?$_" } @main::Methods),
 (map { "POST /digest?$_\n" . main::body_of(1) } @main::Methods),
 (map { "POST /digest?$_\n" . main::body_of(10240) } @main::Methods)]
--- response_body eval
[(map { "CONTENT_LENGTH=[]\nHTTP_TRANSFER_ENCODING=absent\nwsgi.input_terminated=True\nread=0 sha256=" . main::sha256_hex('') . "\nat end: ok\n" } @main::Methods),
 (map { main::report(main::body_of(1)) } @main::Methods),
 (map { main::report(main::body_of(10240)) } @main::Methods)]


=== TEST 8: wsgi.input: 100 KiB in the temp file, read every way
--- config
    location / { client_body_buffer_size 1k; wsgi_app validated:digest; }
--- request eval
[map { "POST /digest?$_\n" . main::body_of(102400) } @main::Methods]
--- response_body eval
[map { main::report(main::body_of(102400)) } @main::Methods]


=== TEST 9: wsgi.input: chunked bodies, in memory and in the temp file
--- config
    location / { wsgi_app validated:digest; }
    location /file/ { client_body_buffer_size 1k; wsgi_app validated:digest; }
--- more_headers
Transfer-Encoding: chunked
--- request eval
[(map { "POST /digest?$_\n" . main::chunked(main::body_of(10000), 777) } @main::Methods),
 (map { "POST /file/digest?$_\n" . main::chunked(main::body_of(102400), 4000) } @main::Methods),
 "POST /digest?readline\n0\r\n\r\n"]
--- response_body eval
[(map { main::report(main::body_of(10000)) } @main::Methods),
 (map { main::report(main::body_of(102400)) } @main::Methods),
 main::report('')]


=== TEST 10: wsgi.input: an 8 MiB body, in memory and in the temp file; readline(size)
--- config
    location /mem/ { client_body_buffer_size 16m; wsgi_app validated:digest; }
    location /file/ { wsgi_app validated:digest; }
    location /lines { wsgi_app validated:lines; }
--- request eval
["POST /mem/digest?readn=65536\n" . main::body_of(8 << 20),
 "POST /file/digest?readline-size=1000\n" . main::body_of(8 << 20),
 "POST /lines?4\nabcdefghij\nkl\n\n\nmnopqrstuvwxyz"]
--- response_body eval
[main::report(main::body_of(8 << 20)), main::report(main::body_of(8 << 20)),
 "4 b'abcd'\n4 b'efgh'\n3 b'ij\\n'\n3 b'kl\\n'\n1 b'\\n'\n1 b'\\n'\n4 b'mnop'\n4 b'qrst'\n4 b'uvwx'\n2 b'yz'\n"]
--- timeout: 20


=== TEST 11: echo: the body read in pieces, and given back
--- config
    location / { wsgi_app validated:echo; }
--- request eval
["POST /?1\n" . main::body_of(3000), "POST /?65536\n" . main::body_of(200000), "GET /"]
--- response_body eval
[main::body_of(3000), main::body_of(200000), ""]


=== TEST 12: reading a 16 MiB body in pieces does not cost its size in memory
--- config
    location / { wsgi_app validated:rss; }
--- request eval
["POST /rss?16384\nx", "POST /rss?16384\n" . main::body_of(16 << 20)]
--- response_body eval
[qr/\Aread=1 sha256=\Q${\ main::sha256_hex('x') }\E biggest piece=1\npeak RSS growth within 16384 KiB: yes /,
 qr/\Aread=16777216 sha256=\Q${\ main::sha256_hex(main::body_of(16 << 20)) }\E biggest piece=65536\npeak RSS growth within 16384 KiB: yes /]
--- timeout: 20


=== TEST 13: 16 MiB streamed: from a generator, with a Content-Length, through write()
--- config
    location /big { wsgi_app validated:big; }
    location /big_length { wsgi_app validated:big_length; }
    location /big_write { wsgi_app validated:big_write; }
--- request eval
["GET /big", "GET /big_length", "GET /big_write", "GET /big HTTP/1.0"]
--- response_body_filters
sha1_hex
--- response_body eval
[map { main::sha1_hex(main::stream(256)) } 1 .. 4]
--- timeout: 20


=== TEST 14: chunks leave as they are produced (generator and write())
--- config
    location /drive_held { wsgi_app streaming:drive_held; }
    location /held { wsgi_app validated:held; }
    location /held_write { wsgi_app validated:held_write; }
    location /release { wsgi_app streaming:release; }
--- request eval
["GET /drive_held?/held", "GET /drive_held?/held_write"]
--- response_body eval
[map { "the first chunk arrived while the app was still waiting: yes\n/release: released\n1: HTTP/1.1 200 OK; body: chunked, 35 bytes: b'first chunk\\nsecond chunk: released\\n'; complete\nbytes after the responses: 0\n" } 1 .. 2]
--- timeout: 20


=== TEST 15: a client that hangs up: mid-stream, or while the app waits
--- config
    location /drive_disconnect { wsgi_app streaming:drive_disconnect; }
    location /drive_disconnect_idle { wsgi_app streaming:drive_disconnect_idle; }
    location /endless { wsgi_app validated:endless; }
    location /held_counted { wsgi_app validated:held_counted; }
--- request eval
["GET /drive_disconnect?/endless", "GET /drive_disconnect_idle?/held_counted"]
--- response_body eval
["read before hanging up: 1 MiB\nclose() called: yes\niteration stopped early: yes\n",
 "first chunk read: yes\nclose() called: yes\niteration stopped early: yes\n"]
--- timeout: 20


=== TEST 16: a slow client pauses the generator
--- config
    location /drive_slow { wsgi_app streaming:drive_slow; }
    location /endless { wsgi_app validated:endless; }
--- request
GET /drive_slow?/endless
--- response_body
paused: yes (well under 64 MiB ahead of the client)
goes on once the client reads: yes
close() called after the hang-up: yes
--- timeout: 60


=== TEST 17: HEAD of a stream, then keep-alive goes on
--- config
    location /pipeline { wsgi_app streaming:pipeline; }
    location /big { wsgi_app validated:big; }
    location /hello { wsgi_app streaming:hello; }
--- request
GET /pipeline?HEAD%20/big|GET%20/hello
--- response_body
1: HTTP/1.1 200 OK; body: none, 0 bytes; complete
2: HTTP/1.1 200 OK; body: Content-Length 13, 13 bytes: b'hello, world\n'; complete
bytes after the responses: 0
