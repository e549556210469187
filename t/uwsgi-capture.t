# Stock nginx `uwsgi_pass`, with Debian's uwsgi_params, against the
# recording uwsgi server t/tools/uwsgi_capture.py: proves the recorder that
# the uwsgi_upstream tests compare against, and pins what stock nginx sends.
#
# The recorder runs for the whole file on a free port
# ($TEST_NGINX_UWSGI_CAPTURE_PORT), appending one JSON line per request.
# Sections of this file, checked against the line of each request:
#   --- captured       the variables, in order, one "KEY: value" a line
#                      (the exact list: no key more, none less). In a value,
#                      \xHH is a byte, $html_dir and $server_port are
#                      Test::Nginx's, and a value "~REGEX" is matched.
#   --- captured_body  the body uwsgi received (default: none); with
#                      "eval", a Perl expression.
use Test::Nginx::Socket 'no_plan';
use FindBin ();
use File::Temp ();
use IO::Socket::INET ();
use JSON::PP ();
use Digest::SHA ();
use Encode ();
use MIME::Base64 ();
use Time::HiRes ();

our ($CapturePid, $CaptureOut, $CaptureFile, $CaptureDir);
my $captured_lines = 0;

BEGIN {
    $CaptureDir = File::Temp->newdir();
    $CaptureFile = "$CaptureDir/captured.jsonl";
    my $tool = "$FindBin::Bin/tools/uwsgi_capture.py";
    # 300 s at most: the recorder exits by itself even if this file dies.
    $CapturePid = open($CaptureOut, '-|', 'python3', $tool, 0, $CaptureFile, 300)
        or die "cannot run $tool: $!";
    my $line = <$CaptureOut>;
    if (!defined $line || $line !~ /^listening (\d+)$/) {
        die "uwsgi_capture.py did not start: " . ($line // 'no output');
    }
    $ENV{TEST_NGINX_UWSGI_CAPTURE_PORT} = $1;
}

END {
    if ($CapturePid) {
        local $?;    # the recorder's exit status is not this file's
        kill 'TERM', $CapturePid;
        close $CaptureOut;
    }
}

# Debian 12's /etc/nginx/uwsgi_params (nginx-common 1.22.1-9+deb12u11),
# directives only. Its last line, HTTP_HOST from $host, is a Debian
# security change: nginx's own conf/uwsgi_params stops at SERVER_NAME and
# lets the Host header through as HTTP_HOST (see the test using $UpstreamParams).
our $DebianParams = <<'EOF';
        uwsgi_param  QUERY_STRING       $query_string;
        uwsgi_param  REQUEST_METHOD     $request_method;
        uwsgi_param  CONTENT_TYPE       $content_type;
        uwsgi_param  CONTENT_LENGTH     $content_length;
        uwsgi_param  REQUEST_URI        $request_uri;
        uwsgi_param  PATH_INFO          $document_uri;
        uwsgi_param  DOCUMENT_ROOT      $document_root;
        uwsgi_param  SERVER_PROTOCOL    $server_protocol;
        uwsgi_param  REQUEST_SCHEME     $scheme;
        uwsgi_param  HTTPS              $https if_not_empty;
        uwsgi_param  REMOTE_ADDR        $remote_addr;
        uwsgi_param  REMOTE_PORT        $remote_port;
        uwsgi_param  SERVER_PORT        $server_port;
        uwsgi_param  SERVER_NAME        $server_name;
        uwsgi_param  HTTP_HOST          $host;
EOF
(our $UpstreamParams = $DebianParams) =~ s/^.*HTTP_HOST.*\n//m;

no_shuffle();
no_root_location();

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->config) {
        my $params = $block->name =~ /nginx's own uwsgi_params/
            ? $UpstreamParams : $DebianParams;
        $block->set_value("config", <<EOF);
    location / {
$params        uwsgi_pass 127.0.0.1:\$TEST_NGINX_UWSGI_CAPTURE_PORT;
    }
EOF
    }
    $block->set_value("response_body", "captured\n")
        unless defined $block->response_body;
    $block->set_value("no_error_log", "[error]\n[alert]\n[crit]")
        unless defined $block->no_error_log;
});

sub read_lines () {
    open my $fh, '<', $CaptureFile or return ();
    local $/ = "\n";
    my @lines = <$fh>;
    close $fh;
    return @lines;
}

sub expected_value ($) {
    my $v = shift;
    return qr/$1/ if $v =~ /^~(.*)$/;
    $v =~ s/\$html_dir\b/html_dir()/ge;
    $v =~ s/\$server_port\b/server_port()/ge;
    $v =~ s/\\x([0-9a-fA-F]{2})/chr hex $1/ge;
    return $v;
}

sub show ($) {
    my $s = shift;
    $s =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
    return $s;
}

# The vars block re-encoded from the recorded pairs, to compare with the
# recorded raw packet: the recorder's parse loses nothing.
sub encode_pairs ($) {
    my $pairs = shift;
    my $block = join '', map {
        my ($k, $v) = map { Encode::encode('latin-1', $_, Encode::FB_CROAK) } @$_;
        pack('v', length $k) . $k . pack('v', length $v) . $v
    } @$pairs;
    return $block;
}

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $name = $block->name;
    SKIP: {
        skip "$name - uwsgi capture - tests skipped due to $dry_run", 4
            if $dry_run;

        my @lines = read_lines();
        my $new = @lines - $captured_lines;
        $captured_lines = @lines;
        my $rec = $new >= 1 ? eval { JSON::PP->new->decode($lines[-1]) } : undef;
        ok($new == 1 && $rec && !exists $rec->{error},
           "$name - uwsgi capture - one packet recorded")
            or diag("new lines: $new; last: " . ($lines[-1] // 'none'));
        $rec ||= { pairs => [], packet => '' };

        # The variables, in order.
        my @got = map { [@$_] } @{ $rec->{pairs} };
        my (@want, $want_text, $got_text);
        for my $line (split /\n/, $block->captured // '') {
            next if $line =~ /^\s*(#|$)/;
            $line =~ /^([^:]+):[ ]?(.*)$/ or die "$name: bad --- captured line: $line";
            push @want, [$1, expected_value($2)];
        }
        for my $i (0 .. $#want) {
            my ($k, $v) = @{ $want[$i] };
            if (ref $v && $got[$i] && $got[$i][0] eq $k && $got[$i][1] =~ $v) {
                $want[$i][1] = $got[$i][1];
            }
        }
        $want_text = join '', map { show("$_->[0]: $_->[1]") . "\n" } @want;
        $got_text = join '', map { show("$_->[0]: $_->[1]") . "\n" } @got;
        is($got_text, $want_text, "$name - uwsgi capture - variables");

        # The raw packet is the header and exactly these variables.
        my $packet = MIME::Base64::decode_base64($rec->{packet});
        my $vars = encode_pairs($rec->{pairs});
        my $header = pack('CvC', $rec->{modifier1} // 0, length $vars,
                          $rec->{modifier2} // 0);
        ok($packet eq $header . $vars && $rec->{modifier1} == 0
           && $rec->{modifier2} == 0 && $rec->{datasize} == length $vars,
           "$name - uwsgi capture - packet is header (0, datasize, 0) and the variables");

        # The body.
        my $want_body = $block->captured_body // '';
        is(($rec->{body_length} // -1) . ' ' . ($rec->{body_sha256} // ''),
           length($want_body) . ' ' . Digest::SHA::sha256_hex($want_body),
           "$name - uwsgi capture - body length and sha256");
    }
});

run_tests();

# The recorder itself, without nginx: it serves connections concurrently
# (the packets are completed in the reverse order of their connections),
# and a packet that does not parse is recorded as an error, not an answer.
{
    my $port = $ENV{TEST_NGINX_UWSGI_CAPTURE_PORT};
    my @socks = map {
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5)
            or die "connect: $!"
    } 1 .. 4;
    my @packets = map {
        my $vars = encode_pairs([["N", "$_"], ["CONTENT_LENGTH", "3"]]);
        pack('CvC', 0, length $vars, 0) . $vars . "b$_!"
    } 0 .. $#socks;
    for my $i (0 .. $#socks) {
        $socks[$i]->syswrite(substr($packets[$i], 0, 6));
    }
    Time::HiRes::sleep(0.2);
    my @answers;
    for my $i (reverse 0 .. $#socks) {
        $socks[$i]->syswrite(substr($packets[$i], 6));
        local $/;
        my $s = $socks[$i];
        $answers[$i] = <$s>;
    }
    is_deeply(\@answers, [("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\ncaptured\n")
                          x @socks],
              "uwsgi_capture.py - concurrent connections are all answered");
    my @recs = map { JSON::PP->new->decode($_) } (read_lines())[-@socks .. -1];
    is_deeply([map { "$_->{vars}{N} $_->{body_length} $_->{body_sha256}" } @recs],
              [map { "$_ 3 " . Digest::SHA::sha256_hex("b$_!") } reverse 0 .. $#socks],
              "uwsgi_capture.py - concurrent connections recorded in completion order");

    # A key length past the end of its block: an error line, no answer.
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5)
        or die "connect: $!";
    $s->syswrite(pack('CvC', 0, 4, 0) . pack('v', 9) . "AB");
    local $/;
    my $answer = <$s>;
    is($answer // '', '', "uwsgi_capture.py - a malformed packet gets no answer");
    my $last = JSON::PP->new->decode((read_lines())[-1]);
    like($last->{error} // '', qr/variable #0 at offset 0: key past the block/,
         "uwsgi_capture.py - a malformed packet is recorded as an error");
}

__DATA__

=== TEST 1: GET with a query string; repeated headers joined (nginx 1.23+)
Host from $host; Proxy passes, X_Under is an invalid header (dropped).
--- skip_nginx: 9: < 1.23.0
--- raw_request eval
"GET /t/a%20b?a=1&b=%20x HTTP/1.1\r
Host: localhost\r
X-Multi: 1\r
Cookie: c=1\r
X-Multi: 2\r
Cookie: d=2\r
Accept: */*\r
Proxy: http://evil/\r
X_Under: u\r
Connection: close\r
\r
"
--- captured
QUERY_STRING: a=1&b=%20x
REQUEST_METHOD: GET
CONTENT_TYPE:
CONTENT_LENGTH:
REQUEST_URI: /t/a%20b?a=1&b=%20x
PATH_INFO: /t/a b
DOCUMENT_ROOT: $html_dir
SERVER_PROTOCOL: HTTP/1.1
REQUEST_SCHEME: http
REMOTE_ADDR: 127.0.0.1
REMOTE_PORT: ~^[0-9]+$
SERVER_PORT: $server_port
SERVER_NAME: localhost
HTTP_HOST: localhost
HTTP_X_MULTI: 1, 2
HTTP_COOKIE: c=1; d=2
HTTP_ACCEPT: */*
HTTP_PROXY: http://evil/
HTTP_CONNECTION: close



=== TEST 2: the same before nginx 1.23: repeated headers sent one by one
--- skip_nginx: 9: >= 1.23.0
--- raw_request eval
"GET /t/a%20b?a=1&b=%20x HTTP/1.1\r
Host: localhost\r
X-Multi: 1\r
Cookie: c=1\r
X-Multi: 2\r
Cookie: d=2\r
Accept: */*\r
Proxy: http://evil/\r
X_Under: u\r
Connection: close\r
\r
"
--- captured
QUERY_STRING: a=1&b=%20x
REQUEST_METHOD: GET
CONTENT_TYPE:
CONTENT_LENGTH:
REQUEST_URI: /t/a%20b?a=1&b=%20x
PATH_INFO: /t/a b
DOCUMENT_ROOT: $html_dir
SERVER_PROTOCOL: HTTP/1.1
REQUEST_SCHEME: http
REMOTE_ADDR: 127.0.0.1
REMOTE_PORT: ~^[0-9]+$
SERVER_PORT: $server_port
SERVER_NAME: localhost
HTTP_HOST: localhost
HTTP_X_MULTI: 1
HTTP_COOKIE: c=1
HTTP_X_MULTI: 2
HTTP_COOKIE: d=2
HTTP_ACCEPT: */*
HTTP_PROXY: http://evil/
HTTP_CONNECTION: close



=== TEST 3: Debian's HTTP_HOST is $host: lowercased, without the port
--- raw_request eval
"GET / HTTP/1.1\r\nHost: Example.COM:8080\r\nConnection: close\r\n\r\n"
--- captured
QUERY_STRING:
REQUEST_METHOD: GET
CONTENT_TYPE:
CONTENT_LENGTH:
REQUEST_URI: /
PATH_INFO: /
DOCUMENT_ROOT: $html_dir
SERVER_PROTOCOL: HTTP/1.1
REQUEST_SCHEME: http
REMOTE_ADDR: 127.0.0.1
REMOTE_PORT: ~^[0-9]+$
SERVER_PORT: $server_port
SERVER_NAME: localhost
HTTP_HOST: example.com
HTTP_CONNECTION: close



=== TEST 4: with nginx's own uwsgi_params, the Host header passes as is
--- raw_request eval
"GET / HTTP/1.1\r\nHost: Example.COM:8080\r\nConnection: close\r\n\r\n"
--- captured
QUERY_STRING:
REQUEST_METHOD: GET
CONTENT_TYPE:
CONTENT_LENGTH:
REQUEST_URI: /
PATH_INFO: /
DOCUMENT_ROOT: $html_dir
SERVER_PROTOCOL: HTTP/1.1
REQUEST_SCHEME: http
REMOTE_ADDR: 127.0.0.1
REMOTE_PORT: ~^[0-9]+$
SERVER_PORT: $server_port
SERVER_NAME: localhost
HTTP_HOST: Example.COM:8080
HTTP_CONNECTION: close



=== TEST 5: POST with a body
--- raw_request eval
"POST /form?x=1 HTTP/1.1\r
Host: localhost\r
Content-Type: application/x-www-form-urlencoded\r
Content-Length: 11\r
Connection: close\r
\r
hello=world"
--- captured
QUERY_STRING: x=1
REQUEST_METHOD: POST
CONTENT_TYPE: application/x-www-form-urlencoded
CONTENT_LENGTH: 11
REQUEST_URI: /form?x=1
PATH_INFO: /form
DOCUMENT_ROOT: $html_dir
SERVER_PROTOCOL: HTTP/1.1
REQUEST_SCHEME: http
REMOTE_ADDR: 127.0.0.1
REMOTE_PORT: ~^[0-9]+$
SERVER_PORT: $server_port
SERVER_NAME: localhost
HTTP_HOST: localhost
HTTP_CONTENT_TYPE: application/x-www-form-urlencoded
HTTP_CONTENT_LENGTH: 11
HTTP_CONNECTION: close
--- captured_body chomp
hello=world



=== TEST 6: a chunked body
--- raw_request eval
"PUT /up HTTP/1.1\r
Host: localhost\r
Transfer-Encoding: chunked\r
Connection: close\r
\r
3\r
abc\r
4\r
defg\r
0\r
\r
"
--- captured
QUERY_STRING:
REQUEST_METHOD: PUT
CONTENT_TYPE:
CONTENT_LENGTH: 7
REQUEST_URI: /up
PATH_INFO: /up
DOCUMENT_ROOT: $html_dir
SERVER_PROTOCOL: HTTP/1.1
REQUEST_SCHEME: http
REMOTE_ADDR: 127.0.0.1
REMOTE_PORT: ~^[0-9]+$
SERVER_PORT: $server_port
SERVER_NAME: localhost
HTTP_HOST: localhost
HTTP_TRANSFER_ENCODING: chunked
HTTP_CONNECTION: close
--- captured_body chomp
abcdefg



=== TEST 7: a large body (nginx buffers it to a temp file)
--- raw_request eval
"POST /big HTTP/1.1\r
Host: localhost\r
Content-Length: 320000\r
Connection: close\r
\r
" . ("0123456789abcdef" x 20000)
--- captured
QUERY_STRING:
REQUEST_METHOD: POST
CONTENT_TYPE:
CONTENT_LENGTH: 320000
REQUEST_URI: /big
PATH_INFO: /big
DOCUMENT_ROOT: $html_dir
SERVER_PROTOCOL: HTTP/1.1
REQUEST_SCHEME: http
REMOTE_ADDR: 127.0.0.1
REMOTE_PORT: ~^[0-9]+$
SERVER_PORT: $server_port
SERVER_NAME: localhost
HTTP_HOST: localhost
HTTP_CONTENT_LENGTH: 320000
HTTP_CONNECTION: close
--- captured_body eval
"0123456789abcdef" x 20000



=== TEST 8: raw bytes in the URI and a header, HTTP/1.0 without Host
--- raw_request eval
"GET /caf%C3%A9/%E9?q=\xe9&r=%E9 HTTP/1.0\r\nX-Latin: caf\xe9 \xff\r\n\r\n"
--- captured
QUERY_STRING: q=\xe9&r=%E9
REQUEST_METHOD: GET
CONTENT_TYPE:
CONTENT_LENGTH:
REQUEST_URI: /caf%C3%A9/%E9?q=\xe9&r=%E9
PATH_INFO: /caf\xc3\xa9/\xe9
DOCUMENT_ROOT: $html_dir
SERVER_PROTOCOL: HTTP/1.0
REQUEST_SCHEME: http
REMOTE_ADDR: 127.0.0.1
REMOTE_PORT: ~^[0-9]+$
SERVER_PORT: $server_port
SERVER_NAME: localhost
HTTP_HOST: localhost
HTTP_X_LATIN: caf\xe9 \xff
