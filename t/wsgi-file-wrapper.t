# wsgi.file_wrapper: a regular file goes out as an nginx file buffer (with
# sendfile where enabled), from the file's current position; other
# file-likes are iterated in blocks. close() is called either way.
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);

no_shuffle();
no_root_location();

# 300000 deterministic bytes, not a multiple of any buffer size.
our $data = join '', map { chr(($_ * 7 + 3) % 256) } 0 .. 299_999;

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;\nsendfile on;")
        unless defined $block->http_config;
    $block->set_value("user_files", ">>> big.bin\n$data") unless defined $block->user_files;
    $block->set_value("no_error_log", "[error]\n[alert]")
        unless defined $block->no_error_log || defined $block->error_log;
});

add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;
    my $want = $block->sha256 or return;
    is sha256_hex($body), eval $want, $block->name . " - body sha256";
});

run_tests();

__DATA__

=== TEST 1: the whole file, with its length as Content-Length
--- config
    location / {
        wsgi_param FILE_PATH $document_root/big.bin;
        wsgi_app basic:file_wrapper;
    }
--- request
GET /
--- response_headers
Content-Length: 300000
--- sha256: sha256_hex($main::data)


=== TEST 2: the server sends the descriptor, it does not read() the file
--- config
    location / {
        wsgi_param FILE_PATH $document_root/big.bin;
        wsgi_app basic:file_wrapper;
    }
--- request
GET /?noread
--- response_headers
Content-Length: 300000
--- sha256: sha256_hex($main::data)


=== TEST 3: from the file's current position
--- config
    location / {
        wsgi_param FILE_PATH $document_root/big.bin;
        wsgi_app basic:file_wrapper;
    }
--- request
GET /?skip=1000
--- response_headers
Content-Length: 299000
--- sha256: sha256_hex(substr($main::data, 1000))


=== TEST 4: the app's Content-Length is honoured
--- config
    location / {
        wsgi_param FILE_PATH $document_root/big.bin;
        wsgi_app basic:file_wrapper;
    }
--- request
GET /?skip=10&cl=5
--- response_headers
Content-Length: 5
--- sha256: sha256_hex(substr($main::data, 10, 5))


=== TEST 5: the same with sendfile off (nginx reads it through its buffers)
--- http_config
    wsgi_python_path $TEST_NGINX_APPS;
    sendfile off;
--- config
    location / {
        wsgi_param FILE_PATH $document_root/big.bin;
        wsgi_app basic:file_wrapper;
    }
--- request
GET /?noread
--- sha256: sha256_hex($main::data)


=== TEST 6: HEAD sends no body
--- config
    location / {
        wsgi_param FILE_PATH $document_root/big.bin;
        wsgi_app basic:file_wrapper;
    }
--- request
HEAD /
--- response_headers
Content-Length: 300000
--- response_body


=== TEST 7: a file-like without fileno() is iterated, and closed
--- config
    location / { wsgi_app basic:file_wrapper_filelike; }
--- request
GET /
--- response_body
block one
block two
--- error_log
Blocks.close() was called
--- no_error_log
[alert]
