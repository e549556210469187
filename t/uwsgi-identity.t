# What uwsgi_upstream sends, compared variable by variable with what stock
# uwsgi_pass (with Debian's uwsgi_params) sends for the same request, both
# recorded by t/tools/uwsgi_capture.py. Blocks come in pairs: the stock one
# records, the uwsgi_upstream one compares. The only differences allowed are
# the ones the README's "Differences from uwsgi_pass" names, on purpose:
our %Documented = (
    SCRIPT_NAME            => 'the location prefix; stock sends none',
    HTTP_HOST              => 'the Host header as sent; Debian overrides it with $host',
    HTTP_CONTENT_TYPE      => 'carried as CONTENT_TYPE only',
    HTTP_CONTENT_LENGTH    => 'carried as CONTENT_LENGTH only',
    HTTP_TRANSFER_ENCODING => 'the container gets a de-chunked body',
    HTTP_PROXY             => 'httpoxy',
    REMOTE_PORT            => 'a new connection each time',
    CONTENT_LENGTH         => 'left out without a body; stock sends it empty',
);
# Under a prefix location, PATH_INFO is the rest of the path (TEST 9-10).
use Test::Nginx::Socket 'no_plan';
use FindBin ();
use File::Temp ();
use JSON::PP ();

our ($CapturePid, $CaptureOut, $CaptureFile, $CaptureDir, $Stock);
my $seen = 0;

BEGIN {
    $CaptureDir = File::Temp->newdir();
    $CaptureFile = "$CaptureDir/captured.jsonl";
    my $tool = "$FindBin::Bin/tools/uwsgi_capture.py";
    $CapturePid = open($CaptureOut, '-|', 'python3', $tool, 0, $CaptureFile, 300)
        or die "cannot run $tool: $!";
    my $line = <$CaptureOut>;
    die "uwsgi_capture.py did not start" unless defined $line && $line =~ /^listening (\d+)$/;
    $ENV{TEST_NGINX_UWSGI_CAPTURE_PORT} = $1;
}

END {
    if ($CapturePid) {
        local $?;
        kill 'TERM', $CapturePid;
        close $CaptureOut;
    }
}

our $DebianParams = join '', map { "        uwsgi_param $_;\n" } (
    'QUERY_STRING $query_string', 'REQUEST_METHOD $request_method',
    'CONTENT_TYPE $content_type', 'CONTENT_LENGTH $content_length',
    'REQUEST_URI $request_uri', 'PATH_INFO $document_uri',
    'DOCUMENT_ROOT $document_root', 'SERVER_PROTOCOL $server_protocol',
    'REQUEST_SCHEME $scheme', 'HTTPS $https if_not_empty',
    'REMOTE_ADDR $remote_addr', 'REMOTE_PORT $remote_port',
    'SERVER_PORT $server_port', 'SERVER_NAME $server_name', 'HTTP_HOST $host',
);

no_shuffle();
no_root_location();

add_block_preprocessor(sub {
    my $block = shift;
    my $prefix = $block->prefix // '/';
    my $stock = $block->name =~ /(?:^|\s)stock:/;
    my $target = $stock
        ? "$DebianParams        uwsgi_pass 127.0.0.1:\$TEST_NGINX_UWSGI_CAPTURE_PORT;"
        : "        uwsgi_upstream 127.0.0.1:\$TEST_NGINX_UWSGI_CAPTURE_PORT;";
    if (my $m = $block->modifiers) {
        my ($m1, $m2) = split ' ', $m;
        my $d = $stock ? 'uwsgi' : 'uwsgi_upstream';
        $target = "        ${d}_modifier1 $m1;\n        ${d}_modifier2 $m2;\n$target";
    }
    $block->set_value("config", "    location $prefix {\n$target\n    }\n");
    $block->set_value("response_body", "captured\n");
    $block->set_value("no_error_log", "[error]\n[alert]");
});

sub last_record () {
    open my $fh, '<', $CaptureFile or return;
    my @lines = <$fh>;
    my $new = @lines - $seen;
    $seen = @lines;
    return $new == 1 ? JSON::PP->new->decode($lines[-1]) : undef;
}

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $name = $block->name;
    my $rec = last_record();
    ok $rec && !$rec->{error}, "$name - one packet recorded" or return;
    if ($name =~ /(?:^|\s)stock:/) {
        $Stock = $rec;
        return;
    }
    my %allowed = (%Documented, map { $_ => 1 } split ' ', ($block->also_differs // ''));
    my @stock = grep { !$allowed{$_->[0]} } @{ $Stock->{pairs} };
    my @ours = grep { !$allowed{$_->[0]} } @{ $rec->{pairs} };
    is_deeply \@ours, \@stock, "$name - the same variables, values and order as stock uwsgi_pass"
        or diag "stock: " . JSON::PP->new->canonical->encode(\@stock) . "\nours:  " . JSON::PP->new->canonical->encode(\@ours);
    is $rec->{body_sha256}, $Stock->{body_sha256}, "$name - the same body";
    is $rec->{modifier1} . '/' . $rec->{modifier2}, $Stock->{modifier1} . '/' . $Stock->{modifier2}, "$name - the same modifiers";
    if (my $m = $block->modifiers) {
        is "$rec->{modifier1} $rec->{modifier2}", $m, "$name - the configured modifiers";
    }
    if (my $gone = $block->absent) {
        my %ours = map { @$_ } @{ $rec->{pairs} };
        ok !exists $ours{$_}, "$name - no $_" for split ' ', $gone;
    }
    if (my $want = $block->expect) {
        my %ours = map { @$_ } @{ $rec->{pairs} };
        for my $line (split /\n/, $want) {
            my ($k, $v) = $line =~ /^(\w+)=(.*)$/;
            is $ours{$k}, $v, "$name - $k";
        }
    }
});

run_tests();

__DATA__

=== stock: GET with a query, repeated headers and cookies
--- raw_request eval
"GET /a%20b/c?x=1&y=%41 HTTP/1.1\r\nHost: localhost\r\nX-Multi: one\r\nX-Multi: two\r\nCookie: a=1\r\nCookie: b=2\r\nAccept: */*\r\nConnection: close\r\n\r\n"


=== uwsgi_upstream: the same GET
--- raw_request eval
"GET /a%20b/c?x=1&y=%41 HTTP/1.1\r\nHost: localhost\r\nX-Multi: one\r\nX-Multi: two\r\nCookie: a=1\r\nCookie: b=2\r\nAccept: */*\r\nConnection: close\r\n\r\n"
--- absent: CONTENT_LENGTH
--- expect
SCRIPT_NAME=
HTTP_HOST=localhost
HTTP_X_MULTI=one, two
HTTP_COOKIE=a=1; b=2


=== stock: POST with a body and a content type
--- raw_request eval
"POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello=world"


=== uwsgi_upstream: the same POST
--- raw_request eval
"POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello=world"
--- expect
CONTENT_LENGTH=11
CONTENT_TYPE=application/x-www-form-urlencoded


=== stock: a chunked upload
--- raw_request eval
"PUT /up HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"


=== uwsgi_upstream: the same chunked upload
--- raw_request eval
"PUT /up HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
--- expect
CONTENT_LENGTH=7


=== stock: Proxy, a Host with a port, odd bytes
--- raw_request eval
"GET /p?q=%FF HTTP/1.1\r\nHost: Example.COM:8080\r\nProxy: http://evil/\r\nX-Latin: caf\xe9\r\nConnection: close\r\n\r\n"


=== uwsgi_upstream: the same
--- raw_request eval
"GET /p?q=%FF HTTP/1.1\r\nHost: Example.COM:8080\r\nProxy: http://evil/\r\nX-Latin: caf\xe9\r\nConnection: close\r\n\r\n"
--- expect
HTTP_HOST=Example.COM:8080


=== stock: under a prefix location
--- prefix: /mount/
--- raw_request eval
"GET /mount/x/y HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


=== uwsgi_upstream: under a prefix location, SCRIPT_NAME and PATH_INFO split
--- prefix: /mount/
--- raw_request eval
"GET /mount/x/y HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- also_differs: PATH_INFO
--- expect
SCRIPT_NAME=/mount
PATH_INFO=/x/y


=== stock: with modifiers
--- modifiers: 5 9
--- raw_request eval
"GET /m HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


=== uwsgi_upstream: with the same modifiers
--- modifiers: 5 9
--- raw_request eval
"GET /m HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
