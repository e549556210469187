# The environ a WSGI app sees under wsgi_app (PEP 3333), built as nginx's
# uwsgi module builds its params.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;")
        unless defined $block->http_config;
    $block->set_value("no_error_log", "[error]\n[alert]")
        unless defined $block->no_error_log || defined $block->error_log;
});

run_tests();

__DATA__

=== TEST 1: a hello app with its own Content-Length
--- config
    location /hello { wsgi_app basic:hello; }
--- request
GET /hello
--- response_body
hello, world
--- response_headers
Content-Type: text/plain
Content-Length: 13


=== TEST 2: SCRIPT_NAME is the location prefix, PATH_INFO the decoded rest
--- config
    location /app/ { wsgi_app basic:paths; }
--- request
GET /app/a%20b/c
--- response_body
SCRIPT_NAME=[/app] PATH_INFO=[/a b/c]


=== TEST 3: a location without trailing slash mounts itself and below
--- config
    location /app { wsgi_app basic:paths; }
--- request
GET /app
--- response_body
SCRIPT_NAME=[/app] PATH_INFO=[]


=== TEST 4: location / gives an empty SCRIPT_NAME
--- config
    location / { wsgi_app basic:paths; }
--- request
GET /x/y
--- response_body
SCRIPT_NAME=[] PATH_INFO=[/x/y]


=== TEST 5: regex and exact locations mount at the root
--- config
    location ~ ^/re/ { wsgi_app basic:paths; }
--- request
GET /re/x
--- response_body
SCRIPT_NAME=[] PATH_INFO=[/re/x]


=== TEST 6: REQUEST_URI stays raw, QUERY_STRING is the raw query
--- config
    location / { wsgi_app basic:environ_json; }
--- request
GET /p%41th?a=1&b=%20
--- response_body_like: "PATH_INFO": "/pAth".*"QUERY_STRING": "a=1&b=%20".*"REQUEST_URI": "/p%41th\?a=1&b=%20"


=== TEST 7: the standard CGI keys, all str
--- config
    location / { wsgi_app basic:environ_json; }
--- request
GET /x
--- response_body_like: "REMOTE_ADDR": "127\.0\.0\.1".*"REQUEST_METHOD": "GET".*"REQUEST_SCHEME": "http".*"SERVER_NAME": "localhost".*"SERVER_PORT": "\d+".*"SERVER_PROTOCOL": "HTTP/1\.1".*"_non_str_cgi": \[\]


=== TEST 8: the wsgi.* keys
--- config
    location / { wsgi_app basic:environ_json; }
--- request
GET /x
--- response_body_like: "wsgi\.errors": "LogStream", "wsgi\.file_wrapper": "<class 'ngx_wsgi\.FileWrapper'>", "wsgi\.input": "Input", "wsgi\.input_terminated": "True", "wsgi\.multiprocess": "(True|False)", "wsgi\.multithread": "True", "wsgi\.run_once": "False", "wsgi\.url_scheme": "http", "wsgi\.version": "\(1, 0\)"


=== TEST 9: headers become HTTP_* keys
--- config
    location / { wsgi_app basic:one_key; }
--- request
GET /?HTTP_X_CUSTOM_THING
--- more_headers
X-Custom-Thing: some value
--- response_body
HTTP_X_CUSTOM_THING=some value


=== TEST 10: repeated headers are joined with ", "
--- config
    location / { wsgi_app basic:one_key; }
--- request
GET /?HTTP_X_MULTI
--- more_headers
X-Multi: one
X-Multi: two
x-multi: three
--- response_body
HTTP_X_MULTI=one, two, three


=== TEST 11: repeated Cookie headers are joined with "; "
--- config
    location / { wsgi_app basic:one_key; }
--- request
GET /?HTTP_COOKIE
--- more_headers
Cookie: a=1
Cookie: b=2
--- response_body
HTTP_COOKIE=a=1; b=2


=== TEST 12: the Proxy header never reaches the environ (httpoxy)
--- config
    location / { wsgi_app basic:one_key; }
--- request
GET /?HTTP_PROXY
--- more_headers
Proxy: http://attacker.example/
--- response_body
HTTP_PROXY=<absent>


=== TEST 13: headers with underscores are dropped even when nginx accepts them
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    underscores_in_headers on;
--- config
    location / { wsgi_app basic:one_key; }
--- request
GET /?HTTP_X_UNDER_SCORE
--- more_headers
X_Under_Score: spoofed
--- response_body
HTTP_X_UNDER_SCORE=<absent>


=== TEST 14: header bytes arrive as latin-1 code points
--- config
    location / { wsgi_app basic:one_key; }
--- request
GET /?HTTP_X_LATIN
--- more_headers eval
"X-Latin: caf\xe9"
--- response_body eval
"HTTP_X_LATIN=caf\xe9\n"


=== TEST 15: CONTENT_TYPE and CONTENT_LENGTH of a POST
--- config
    location / { wsgi_app basic:environ_json; }
--- request
POST /x
hello=world
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- response_body_like: "CONTENT_LENGTH": "11", "CONTENT_TYPE": "application/x-www-form-urlencoded"


=== TEST 16: without a body CONTENT_LENGTH is absent (gunicorn, waitress and mod_wsgi leave it out too); CONTENT_TYPE is empty
--- config
    location / { wsgi_app basic:one_key; }
--- request eval
["GET /?CONTENT_LENGTH", "GET /?CONTENT_TYPE"]
--- response_body eval
["CONTENT_LENGTH=<absent>\n", "CONTENT_TYPE=\n"]


=== TEST 17: wsgi_param adds keys with nginx variables; if_not_empty skips empty ones
--- config
    location / {
        wsgi_param APP_HOST_AND_ARG "$host:$arg_v";
        wsgi_param APP_EMPTY $arg_missing if_not_empty;
        wsgi_app basic:environ_json;
    }
--- request
GET /?v=42
--- response_body_like: "APP_HOST_AND_ARG": "localhost:42"
--- response_body_unlike: APP_EMPTY


=== TEST 18: wsgi_param overrides a computed key, and inherits from the server level
--- config
    wsgi_param SCRIPT_NAME /mounted;
    location /app/ { wsgi_app basic:paths; }
--- request
GET /app/x
--- response_body
SCRIPT_NAME=[/mounted] PATH_INFO=[/x]


=== TEST 19: a location with its own wsgi_param does not inherit the server's
--- config
    wsgi_param FROM_SERVER yes;
    location / {
        wsgi_param FROM_LOCATION yes;
        wsgi_app basic:environ_json;
    }
--- request
GET /
--- response_body_like: "FROM_LOCATION": "yes"
--- response_body_unlike: FROM_SERVER


=== TEST 20: wsgi.input reads the body
--- config
    location / { wsgi_app basic:echo; }
--- request
POST /
abc
--- response_body chomp
CONTENT_LENGTH=[3] read=3
abc


=== TEST 21: an empty POST body
--- config
    location / { wsgi_app basic:echo; }
--- request
POST /
--- more_headers
Content-Length: 0
--- response_body
CONTENT_LENGTH=[0] read=0


=== TEST 22: wsgi.errors and print() go to the error log
--- config
    location / { wsgi_app basic:errors; }
--- request
GET /
--- response_body
logged
--- error_log
wsgi.errors: a line to wsgi.errors
stdout: a line printed to stdout
--- log_level: info


=== TEST 23: a server without server_name: SERVER_NAME is the request's host name without the port
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { wsgi_app basic:one_key; }
    }
--- config
    location /noname/host {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/?SERVER_NAME;
        proxy_set_header Host Example.COM:8080;
    }
    location /noname/nohost {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/?SERVER_NAME;
        proxy_set_header Host "";
    }
--- request eval
["GET /noname/host", "GET /noname/nohost"]
--- response_body eval
["SERVER_NAME=example.com\n", "SERVER_NAME=127.0.0.1\n"]
