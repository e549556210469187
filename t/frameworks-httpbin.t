# httpbin (https://github.com/postmanlabs/httpbin), a real Flask application
# that reports the requests it gets, served by wsgi_app from the virtualenv
# of scripts/frameworks-venv.sh: at the root and under /httpbin/.
use Test::Nginx::Socket 'no_plan';
use Digest::SHA ();
use JSON::PP ();
use IO::Uncompress::Gunzip ();

# A 64 KiB binary upload; httpbin answers it as a base64 data: URL.
our $Blob = join '', map { Digest::SHA::sha256(pack 'N', $_) } 0 .. 2047;
our $BlobSha256 = Digest::SHA::sha256_hex($Blob);
our $Boundary = 'ngx-wsgi-httpbin-0b1d';
our $Multipart = join "\r\n",
    "--$Boundary",
    'Content-Disposition: form-data; name="k"',
    '',
    'v',
    "--$Boundary",
    'Content-Disposition: form-data; name="text"; filename="a.txt"',
    'Content-Type: text/plain',
    '',
    "some text\nin a file",
    "--$Boundary",
    'Content-Disposition: form-data; name="blob"; filename="blob.bin"',
    'Content-Type: application/octet-stream',
    '',
    $Blob,
    "--$Boundary--",
    '';

# The parts of an httpbin /post answer that do not echo the bytes back.
sub post_summary {
    my $j = JSON::PP::decode_json(shift);
    my $blob = delete $j->{files}{blob} // '';
    $blob =~ s{^data:application/octet-stream;base64,}{}
        or return "blob is not a data: URL: " . substr($blob, 0, 50);
    require MIME::Base64;
    $j->{files}{blob_sha256}
        = Digest::SHA::sha256_hex(MIME::Base64::decode_base64($blob));
    return JSON::PP->new->canonical->utf8->encode($j) . "\n";
}

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    wsgi_python_home $TEST_NGINX_FRAMEWORKS_VENV;
    wsgi_python_path $TEST_NGINX_APPS/frameworks;
_EOC_
    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location / { wsgi_app httpbin:app; }
    location /httpbin/ { wsgi_app httpbin:app; }
_EOC_
    $block->set_value("no_error_log", "[error]\n[alert]")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: /get: query arguments, headers, origin and URL
--- request
GET /get?a=1&b=x%20y&a=2
--- more_headers
X-Test: v
--- response_headers
Content-Type: application/json
Access-Control-Allow-Origin: *
--- response_body
{
  "args": {
    "a": [
      "1",
      "2"
    ],
    "b": "x y"
  },
  "headers": {
    "Connection": "close",
    "Host": "localhost",
    "X-Test": "v"
  },
  "origin": "127.0.0.1",
  "url": "http://localhost/get?a=1&b=x%20y&a=2"
}


=== TEST 2: /post with a JSON body
--- request
POST /post
{"x": [1, 2], "s": "\u00e9", "n": null}
--- more_headers
Content-Type: application/json
--- response_body
{
  "args": {},
  "data": "{\"x\": [1, 2], \"s\": \"\\u00e9\", \"n\": null}",
  "files": {},
  "form": {},
  "headers": {
    "Connection": "close",
    "Content-Length": "39",
    "Content-Type": "application/json",
    "Host": "localhost"
  },
  "json": {
    "n": null,
    "s": "\u00e9",
    "x": [
      1,
      2
    ]
  },
  "origin": "127.0.0.1",
  "url": "http://localhost/post"
}


=== TEST 3: /post with a multipart body: a field, a text file and a 64 KiB binary one
--- request eval
"POST /post\n" . $::Multipart
--- more_headers eval
"Content-Type: multipart/form-data; boundary=$::Boundary\n"
. "Content-Length: " . length($::Multipart)
--- response_body_filters eval
\&::post_summary
--- response_body eval
'{"args":{},"data":"","files":{"blob_sha256":"' . $::BlobSha256 . '","text":"some text\nin a file"},'
. '"form":{"k":"v"},"headers":{"Connection":"close","Content-Length":"' . length($::Multipart) . '",'
. '"Content-Type":"multipart/form-data; boundary=' . $::Boundary . '","Host":"localhost"},'
. '"json":null,"origin":"127.0.0.1","url":"http://localhost/post"}' . "\n"


=== TEST 4: /post with a urlencoded form
--- request
POST /post
a=1&b=%E2%9C%93&b=two
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- response_body_filters eval
sub { JSON::PP->new->canonical->utf8->encode(JSON::PP::decode_json($_[0])->{form}) . "\n" }
--- response_body
{"a":"1","b":["✓","two"]}


=== TEST 5: /headers: exactly the request's headers, repeated ones joined
--- request
GET /headers
--- more_headers
User-Agent: Test::Nginx
Accept: text/plain
Accept: application/json
X-Empty:
--- response_body
{
  "headers": {
    "Accept": "text/plain, application/json",
    "Connection": "close",
    "Host": "localhost",
    "User-Agent": "Test::Nginx",
    "X-Empty": ""
  }
}


=== TEST 6: /cookies: two Cookie headers arrive joined with "; "
--- request
GET /cookies
--- more_headers
Cookie: a=b; c=d
Cookie: e=f
--- response_body
{
  "cookies": {
    "a": "b",
    "c": "d",
    "e": "f"
  }
}


=== TEST 7: /status/418: the status and reason, and the teapot
--- request
GET /status/418
--- error_code: 418
--- raw_response_headers_like: ^HTTP/1\.1 418 I'M A TEAPOT\r\n
--- response_headers
x-more-info: http://tools.ietf.org/html/rfc2324
--- response_body_like: -=\[ teapot \]=-


=== TEST 8: /stream/20: twenty JSON lines, streamed chunked
--- request
GET /stream/20
--- raw_response_headers_like: Transfer-Encoding: chunked\r\n
--- response_body_filters eval
sub { CORE::join(",", map { my $j = JSON::PP::decode_json($_); "$j->{id}:$j->{url}" } split /\n/, $_[0]) . "\n" }
--- response_body eval
CORE::join(",", map { "$_:http://localhost/stream/20" } 0 .. 19) . "\n"


=== TEST 9: /bytes/100000: Content-Length and as many bytes
--- request
GET /bytes/100000
--- response_headers
Content-Type: application/octet-stream
Content-Length: 100000
--- response_body_filters
length
--- response_body chomp
100000


=== TEST 10: /gzip: a gzip-encoded body that decodes
--- request
GET /gzip
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
--- response_body_filters eval
sub { my $out; IO::Uncompress::Gunzip::gunzip(\$_[0], \$out) or die "gunzip: $IO::Uncompress::Gunzip::GunzipError"; $out }
--- response_body_like: "gzipped": true,.*"method": "GET"


=== TEST 11: /cookies/set?a=b: a redirect that sets the cookie
--- request
GET /cookies/set?a=b
--- error_code: 302
--- response_headers
Location: /cookies
Set-Cookie: a=b; Path=/


=== TEST 12: /basic-auth: the Authorization header reaches the app
--- request
GET /basic-auth/user/passwd
--- more_headers
Authorization: Basic dXNlcjpwYXNzd2Q=
--- response_body
{
  "authenticated": true,
  "user": "user"
}


=== TEST 13: /basic-auth without credentials: 401 and its challenge
--- request
GET /basic-auth/user/passwd
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="Fake Realm"


=== TEST 14: /range: a byte range of a generated body
--- request
GET /range/1024
--- more_headers
Range: bytes=10-19
--- error_code: 206
--- response_headers
Content-Range: bytes 10-19/1024
Content-Length: 10
--- response_body chomp
klmnopqrst


=== TEST 15: /drip: a body that arrives byte by byte, with pauses
--- request
GET /drip?numbytes=5&duration=0.5&delay=0&code=200
--- response_headers
Content-Length: 5
--- response_body chomp
*****


=== TEST 16: /anything under /httpbin/: the URL keeps the prefix
--- request
GET /httpbin/anything/x?y=1
--- response_body_filters eval
sub { my $j = JSON::PP::decode_json($_[0]); "$j->{method} $j->{url}\n" }
--- response_body
GET http://localhost/httpbin/anything/x?y=1


=== TEST 17: /redirect/2 under /httpbin/: url_for() points inside the prefix
--- request
GET /httpbin/redirect/2
--- error_code: 302
--- response_headers
Location: /httpbin/relative-redirect/1


=== TEST 18: /anything with a chunked request body: the app reads it de-chunked
--- request eval
"PUT /anything\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
--- more_headers
Transfer-Encoding: chunked
Content-Type: text/plain
--- response_body_filters eval
sub { my $j = JSON::PP::decode_json($_[0]); "$j->{method} data=[$j->{data}] length=[" . ($j->{headers}{'Content-Length'} // '-') . "] te=[" . ($j->{headers}{'Transfer-Encoding'} // '-') . "]\n" }
--- response_body
PUT data=[hello, world] length=[12] te=[-]


=== TEST 19: /base64: a decoded path segment
--- request
GET /base64/aGVsbG8gbmd4LXdzZ2k=
--- response_body chomp
hello ngx-wsgi
