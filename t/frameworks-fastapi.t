# A real FastAPI application (t/apps/frameworks/fastapi_app.py, on
# Starlette) under asgi_app at the prefix /api/, from the virtualenv of
# scripts/frameworks-venv.sh, on uvloop (asgi_loop uvloop): its lifespan,
# path, query and pydantic-validated body parameters, the prefix as the
# ASGI root_path (the OpenAPI schema and the docs page under it), errors,
# a multipart upload, a streamed response (and a client that leaves it), a
# file response (through http.response.pathsend, and a range of it),
# background tasks, and wsgi_request_timeout.
#
# The client that hangs up is fastapi_app.drive_hangup, a WSGI app in the
# same nginx that acts as that client and reports what the app did.
use Test::Nginx::Socket 'no_plan';
use Digest::SHA ();

# The upload: 2 MiB of bytes that are not text (a chain of SHA-256
# digests), in a multipart/form-data body next to a text field.
our $Upload = join '', map { Digest::SHA::sha256(pack 'N', $_) } 0 .. 65535;
our $UploadSha256 = Digest::SHA::sha256_hex($Upload);
our $Boundary = '----ngx-wsgi-fastapi-3c9e1a';
our $Multipart = join "\r\n",
    "--$Boundary",
    'Content-Disposition: form-data; name="note"',
    '',
    'two MiB',
    "--$Boundary",
    'Content-Disposition: form-data; name="file"; filename="blob.bin"',
    'Content-Type: application/octet-stream',
    '',
    $Upload,
    "--$Boundary--",
    '';

# The same form without its file.
our $NoFile = join "\r\n",
    "--$Boundary",
    'Content-Disposition: form-data; name="note"',
    '',
    'no file',
    "--$Boundary--",
    '';

# What GET /api/file sends: the app's FILE_CONTENT, the same chain, 100 KiB.
our $File = join '', map { Digest::SHA::sha256(pack 'N', $_) } 0 .. 3199;

no_shuffle();
no_root_location();
# importing FastAPI and pydantic takes a second or so
timeout(10);
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", <<'_EOC_') unless defined $block->http_config;
    wsgi_python_home $TEST_NGINX_FRAMEWORKS_VENV;
    wsgi_python_path $TEST_NGINX_APPS/frameworks;
    asgi_loop uvloop;
_EOC_
    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location /api/ { asgi_app fastapi_app:app; }
_EOC_
    $block->set_value("no_error_log", "[error]\n[alert]")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: path and query parameters, from the store the lifespan made; the prefix is the root_path
--- request
GET /api/items/2?q=a%20b&limit=3
--- response_headers
Content-Type: application/json
--- response_body chomp
{"item":{"id":2,"name":"eggs","price":0.25,"tags":["breakfast"]},"q":"a b","limit":3,"path":"/api/items/2","root_path":"/api","url_for":"http://localhost/api/items/2","startups":1}


=== TEST 2: a path parameter that is not an int, a query parameter that is not an int: 422 with FastAPI's error body
--- request eval
["GET /api/items/two", "GET /api/items/1?limit=many"]
--- error_code eval
[422, 422]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- response_body eval
['{"detail":[{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"two"}]}',
 '{"detail":[{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"many"}]}']


=== TEST 3: a JSON POST validated by pydantic: 201 with the new item, which later requests see
--- request eval
['POST /api/items
{"name": "toast", "price": 2, "tags": ["x", "y"]}',
 "GET /api/items/3",
 "GET /api/items"]
--- more_headers eval
["Content-Type: application/json", "", ""]
--- error_code eval
[201, 200, 200]
--- response_body eval
['{"id":3,"name":"toast","price":2.0,"tags":["x","y"]}',
 '{"item":{"id":3,"name":"toast","price":2.0,"tags":["x","y"]},"q":null,"limit":10,"path":"/api/items/3","root_path":"/api","url_for":"http://localhost/api/items/3","startups":1}',
 '{"count":3,"names":["spam","eggs","toast"]}']


=== TEST 4: a JSON POST that pydantic refuses: 422, every error in FastAPI's body, nothing stored
--- request eval
['POST /api/items
{"price": -1, "tags": "x"}',
 "GET /api/items"]
--- more_headers eval
["Content-Type: application/json", ""]
--- error_code eval
[422, 200]
--- response_body eval
['{"detail":[{"type":"missing","loc":["body","name"],"msg":"Field required","input":{"price":-1,"tags":"x"}},{"type":"greater_than","loc":["body","price"],"msg":"Input should be greater than 0","input":-1,"ctx":{"gt":0.0}},{"type":"list_type","loc":["body","tags"],"msg":"Input should be a valid list","input":"x"}]}',
 '{"count":2,"names":["spam","eggs"]}']


=== TEST 5: a body that is not JSON: 422
--- request
POST /api/items
{"name": "toast",
--- more_headers
Content-Type: application/json
--- error_code: 422
--- response_body chomp
{"detail":[{"type":"json_invalid","loc":["body",17],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting property name enclosed in double quotes"}}]}


=== TEST 6: the OpenAPI schema under the prefix: the root_path is its server, the routes are declared without it
--- request
GET /api/openapi.json
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"openapi":"3\.1\.0","info":\{"title":"ngx-wsgi test app","version":"1\.0"\},"paths":\{"/items/\{item_id\}":\{"get":.*"/items":\{"get":.*"post":.*"/upload":\{"post":.*\},"servers":\[\{"url":"/api"\}\]\}$


=== TEST 7: the docs page under the prefix loads the schema from the prefix
--- request
GET /api/docs
--- response_headers
Content-Type: text/html; charset=utf-8
--- response_body_like: <title>ngx-wsgi test app - Swagger UI</title>.*url: '/api/openapi\.json',


=== TEST 8: HTTPException: 404 with its detail; an unknown route: FastAPI's 404
--- request eval
["GET /api/items/99", "GET /api/nowhere"]
--- error_code eval
[404, 404]
--- response_body eval
['{"detail":"item 99 not found"}', '{"detail":"Not Found"}']


=== TEST 9: an unhandled exception: Starlette's error middleware answers 500; the traceback is in nginx's error log
--- request
GET /api/boom
--- error_code: 500
--- response_headers
Content-Type: text/plain; charset=utf-8
--- response_body chomp
Internal Server Error
--- error_log eval
[qr/\[error\] .*wsgi: application raised an exception: RuntimeError: fastapi_app: an unhandled error, client: 127\.0\.0\.1, .*request: "GET \/api\/boom HTTP\/1\.1"/,
 qr/wsgi: Traceback \(most recent call last\):/,
 qr/starlette\/middleware\/errors\.py", line \d+, in __call__/,
 qr/fastapi_app\.py", line \d+, in boom/]


=== TEST 10: a multipart upload of 2 MiB (UploadFile, python-multipart): its size and sha256
--- request eval
"POST /api/upload\n$::Multipart"
--- more_headers eval
"Content-Type: multipart/form-data; boundary=$::Boundary"
--- response_body eval
qq{{"filename":"blob.bin","content_type":"application/octet-stream","size":2097152,"sha256":"$::UploadSha256","note":"two MiB"}}


=== TEST 11: an upload without its file field: 422
--- request eval
"POST /api/upload\n$::NoFile"
--- more_headers eval
"Content-Type: multipart/form-data; boundary=$::Boundary"
--- error_code: 422
--- response_body chomp
{"detail":[{"type":"missing","loc":["body","file"],"msg":"Field required","input":null}]}


=== TEST 12: a StreamingResponse from an async generator: chunked, every line
--- request
GET /api/stream?n=6
--- response_headers
Content-Type: text/plain; charset=utf-8
Transfer-Encoding: chunked
!Content-Length
--- response_body
line 1 of 6
line 2 of 6
line 3 of 6
line 4 of 6
line 5 of 6
line 6 of 6


=== TEST 13: a client that hangs up in the middle of a StreamingResponse: the stream stops; a hang-up is no error
# SERVER BUG (fails as of 4d8b354): send() raises ngx_wsgi.ClientDisconnected
# as ASGI 2.4 says; Starlette's StreamingResponse turns it into its own
# starlette.requests.ClientDisconnect (raised while handling it), which the
# app lets out. The server only keeps quiet about CancelledError and
# ClientDisconnected themselves, so every client that leaves a FastAPI
# stream logs "[error] wsgi: application raised an exception:
# ClientDisconnect" and a long traceback, where the spec says a server
# should not log the exception it raised as an error. Expected: the
# [info] line about the client, no [error].
--- config
    location /api/ { asgi_app fastapi_app:app; }
    location = /drive/hangup { wsgi_app fastapi_app:drive_hangup; }
--- request
GET /drive/hangup
--- response_body
read before hanging up: 3 lines
the generator ended: yes
early: yes
--- error_log eval
qr/\[info\] .*client closed the connection while the application was responding, client: 127\.0\.0\.1, .*request: "GET \/api\/stream\?n=100000 HTTP\/1\.1"/
--- no_error_log
[error]
[alert]
--- log_level: info


=== TEST 14: a FileResponse: Content-Length, the file's bytes, sent by http.response.pathsend
--- request eval
["GET /api/file", "GET /api/sent?path=/api/file"]
--- response_headers eval
["Content-Type: application/octet-stream\nContent-Length: 102400\nAccept-Ranges: bytes\nContent-Disposition: attachment; filename=\"digests.bin\"",
 "Content-Type: application/json"]
--- response_body eval
[$::File, '{"path":"/api/file","types":["http.response.start","http.response.pathsend"]}']


=== TEST 15: a range of the FileResponse: 206 with the bytes of the range (Starlette sends them as a body)
--- request eval
["GET /api/file", "GET /api/sent?path=/api/file"]
--- more_headers eval
["Range: bytes=1000-1999", ""]
--- error_code eval
[206, 200]
--- response_headers eval
["Content-Length: 1000\nContent-Range: bytes 1000-1999/102400", ""]
--- response_body eval
[substr($::File, 1000, 1000), '{"path":"/api/file","types":["http.response.start","http.response.body"]}']


=== TEST 16: BackgroundTasks: the response goes out before its background task ends, whose effect a later request sees
--- request eval
["POST /api/notify/alice", "GET /api/notifications"]
--- error_code eval
[202, 200]
--- response_body eval
['{"queued":"alice","notifications so far":[]}', '{"notifications":["notified alice"]}']


=== TEST 17: asgi_loop uvloop: the app runs on uvloop's loop
--- request
GET /api/loop
--- response_body chomp
{"loop":"uvloop"}
--- no_error_log
[error]
[alert]
uvloop does not import


=== TEST 18: wsgi_request_timeout: 504 at the deadline, and the endpoint's await is cancelled
--- config
    location /api/ { wsgi_request_timeout 300ms; asgi_app fastapi_app:app; }
--- request
GET /api/slow?seconds=5
--- error_code: 504
--- response_body
504 Gateway Timeout: the application took too long
--- error_log eval
[qr/\[error\] .*wsgi: app "fastapi_app:app": the request spent longer than wsgi_request_timeout \(300 ms\) in the app: the client got 504; its task is cancelled/,
 qr/fastapi_app: \/slow was cancelled/,
 qr/\[info\] .*the request's task ended after its wsgi_request_timeout/]
--- no_error_log
[alert]
--- log_level: info


=== TEST 19: the lifespan's shutdown runs when the worker exits
--- request
GET /api/items
--- response_body chomp
{"count":2,"names":["spam","eggs"]}
--- shutdown_error_log
fastapi_app: lifespan shutdown
