# A real Flask application (t/apps/frameworks/flask_app.py) under wsgi_app,
# from the virtualenv of scripts/frameworks-venv.sh: JSON, a urlencoded
# form, a multipart upload, streamed responses, and url_for() under a
# prefix location (SCRIPT_NAME).
use Test::Nginx::Socket 'no_plan';
use Digest::SHA ();
use Digest::MD5 ();

# The upload: 300 KiB of bytes that are not text (a chain of SHA-256
# digests), in a multipart/form-data body next to a text field.
our $Upload = join '', map { Digest::SHA::sha256(pack 'N', $_) } 0 .. 9599;
our $UploadSha256 = Digest::SHA::sha256_hex($Upload);
our $Boundary = '----ngx-wsgi-flask-7d1f0c';
our $Multipart = join "\r\n",
    "--$Boundary",
    'Content-Disposition: form-data; name="note"',
    '',
    'three hundred KiB',
    "--$Boundary",
    'Content-Disposition: form-data; name="file"; filename="blob.bin"',
    'Content-Type: application/octet-stream',
    '',
    $Upload,
    "--$Boundary--",
    '';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    wsgi_python_home $TEST_NGINX_FRAMEWORKS_VENV;
    wsgi_python_path $TEST_NGINX_APPS/frameworks;
_EOC_
    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location /flask/ { wsgi_app flask_app:app; }
_EOC_
    $block->set_value("no_error_log", "[error]\n[alert]")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: a JSON view under /flask/: url_for() and script_root carry the prefix
--- request
GET /flask/api/items/3?q=a%20b
--- response_headers
Content-Type: application/json
--- response_body
{"external":"http://localhost/flask/api/items/3","id":3,"name":"ham","path":"/api/items/3","q":"a b","script_root":"/flask","url":"/flask/api/items/3"}


=== TEST 2: the same app mounted at the root has no prefix
--- config
    location / { wsgi_app flask_app:app; }
--- request
GET /api/items/1
--- response_body
{"external":"http://localhost/api/items/1","id":1,"name":"spam","path":"/api/items/1","q":null,"script_root":"","url":"/api/items/1"}


=== TEST 3: a JSON POST is parsed by request.get_json()
--- request
POST /flask/api/items
{"name": "toast", "tags": ["x", "y", "z"], "price": 1.5}
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body
{"count":3,"received":{"name":"toast","price":1.5,"tags":["x","y","z"]}}


=== TEST 4: redirect(url_for()) points inside the prefix
--- request
GET /flask/old
--- error_code: 302
--- response_headers
Location: /flask/api/items/2


=== TEST 5: Flask's 404 handler answers for an unknown item, with the path
--- request
GET /flask/api/items/99
--- error_code: 404
--- response_body
{"error":"not found","path":"/api/items/99"}


=== TEST 6: a urlencoded form POST: UTF-8, '+' and repeated fields
--- request
POST /flask/form
name=J%C3%BCrgen&msg=hello+world%21&tag=a&tag=b&empty=
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- response_headers
Content-Type: text/plain; charset=utf-8
--- response_body
content_type=application/x-www-form-urlencoded
empty=
msg=hello world!
name=Jürgen
tag=a|b


=== TEST 7: a 300 KiB multipart upload (body in a temp file): size and SHA-256
--- request eval
"POST /flask/upload\n" . $::Multipart
--- more_headers eval
"Content-Type: multipart/form-data; boundary=$::Boundary\n"
. "Content-Length: " . length($::Multipart)
--- response_body eval
"field=file filename=blob.bin type=application/octet-stream size=307200 "
. "sha256=$::UploadSha256 note=three hundred KiB\n"


=== TEST 8: the same upload with the body kept in memory
--- config
    client_body_buffer_size 1m;
    location /flask/ { wsgi_app flask_app:app; }
--- request eval
"POST /flask/upload\n" . $::Multipart
--- more_headers eval
"Content-Type: multipart/form-data; boundary=$::Boundary\n"
. "Content-Length: " . length($::Multipart)
--- response_body eval
"field=file filename=blob.bin type=application/octet-stream size=307200 "
. "sha256=$::UploadSha256 note=three hundred KiB\n"


=== TEST 9: stream_with_context: the generator sees the request, chunked
--- request
GET /flask/stream?n=4&tag=t9
--- raw_response_headers_like: Transfer-Encoding: chunked\r\n
--- response_body
start /flask/stream
line 1 of 4 (t9)
line 2 of 4 (t9)
line 3 of 4 (t9)
line 4 of 4 (t9)
end


=== TEST 10: the same stream over HTTP/1.0 is close-delimited
--- request
GET /flask/stream?n=2 HTTP/1.0
--- response_headers
Transfer-Encoding:
Content-Length:
--- response_body
start /flask/stream
line 1 of 2 (-)
line 2 of 2 (-)
end


=== TEST 11: a 1 MiB streamed response arrives whole (more than is queued ahead)
--- request
GET /flask/stream-big?chunk=65536&count=16
--- response_body_filters
md5_hex
--- response_body eval
Digest::MD5::md5_hex(CORE::join '', map { chr($_) x 65536 } 0 .. 15)
