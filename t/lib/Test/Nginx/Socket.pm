package Test::Nginx::Socket;

# A compatible subset of CPAN's Test::Nginx::Socket (openresty/test-nginx),
# written for the ngx-wsgi project because CPAN is not reachable on the
# build machines.  Test files written for the real module run unchanged
# with this one (see "COMPATIBILITY" in the POD at the end of this file).
#
# NB: "use Test::Base -Base" turns on Spiffy's source filter, which adds
# "my $self = shift;" to every "sub name {" written without a prototype.
# Every sub below therefore has an explicit prototype.

use v5.10.1;
use Test::Base -Base;

our $VERSION = '0.33_ngx_wsgi';

use POSIX qw( EAGAIN EINTR EWOULDBLOCK );
use Encode ();
use Time::HiRes qw( sleep time );
use Test::LongString;
use List::Util qw( min );
use IO::Select ();
use IO::Socket::INET ();
use Digest::MD5 ();
use Digest::SHA ();
use HTTP::Response ();
use JSON::PP ();

use Test::Nginx::Util;

our @EXPORT = qw( env_to_nginx is_str plan run_tests run_test
  repeat_each config_preamble worker_connections
  master_process_enabled
  no_long_string workers master_on master_off
  log_level no_shuffle no_root_location
  server_name
  server_addr server_root html_dir server_port server_port_for_client
  timeout no_nginx_manager check_accum_error_log
  add_block_preprocessor bail_out add_test_cleanup_handler add_cleanup_handler
  add_response_body_check
);

our $TotalConnectingTimeouts = 0;
our @ResponseBodyChecks;

sub run_test_helper ($$$);
sub check_error_log ($$$$$);
sub check_shutdown_error_log ($$);
sub send_request ($$$$);
sub parse_response ($$$$);
sub value_contains ($$);

$RunTestHelper = \&run_test_helper;
$CheckErrorLog = \&check_error_log;
$CheckShutdownErrorLog = \&check_shutdown_error_log;

sub set_http_config_filter ($) {
    $FilterHttpConfig = shift;
}

sub add_response_body_check ($) {
    push @ResponseBodyChecks, shift;
}

sub run_test ($) {
    Test::Nginx::Util::run_test(shift);
}

sub _no_ending () {
    Test::More->builder->no_ending(1);
}

# ---------------------------------------------------------------------
# Building requests
# ---------------------------------------------------------------------

sub parse_more_headers ($) {
    my $in = shift;
    my $is_chunked;
    my $out = '';
    for my $header (split /\n+/, $in) {
        next if $header =~ /^\s*\#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val //= '';
        if (lc($key) eq 'transfer-encoding' && $val eq 'chunked') {
            $is_chunked = 1;
        }
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# Turns the "--- request" text ("METHOD [/uri [HTTP/x.y]]\n[body]"),
# possibly split into packets, into a full HTTP request, keeping the packet
# boundaries: returns an arrayref with as many packets as were given.
# As the real module: the request line is normalised, "Host: localhost" and
# "Connection: close" are added unless given in more_headers, and a
# non-chunked body is stripped of surrounding white space and gets a
# Content-Length header (unless one is given).
sub build_request_from_packets ($$$$$) {
    my ($name, $more_headers, $is_chunked, $conn_header, $packets) = @_;

    my $full = join '', map { $_ // '' } @$packets;

    my $nl = index $full, "\n";
    my $first = $nl < 0 ? $full : substr($full, 0, $nl + 1);
    my $body_start = length $first;

    if ($first !~ /\S/) {
        bail_out("$name - Request line should be non-empty");
    }

    my @seg;    # [ 'keep'|'del', $len ] or [ 'ins', $text ]
    if ($first =~ /^(\s*)(\S+)( *)(?:(\S+)( *))?(?:(\S+)( *))?(\s*)$/) {
        my ($ws1, $meth, $ws2, $url, $ws3, $ver, $ws4, $eol)
            = ($1, $2, $3, $4, $5, $6, $7, $8);
        push @seg, ['del', length $ws1], ['keep', length $meth],
                   ['ins', ' '], ['del', length $ws2];
        if (defined $url) {
            push @seg, ['keep', length $url];
        } else {
            push @seg, ['ins', '/'];
        }
        push @seg, ['ins', ' '], ['del', length($ws3 // '')];
        if (defined $ver) {
            push @seg, ['keep', length $ver];
        } else {
            push @seg, ['ins', 'HTTP/1.1'];
        }
        push @seg, ['del', length($ws4 // '') + length $eol];
    } else {
        bail_out("$name - Request line is not valid. Should be "
                 . "'meth [url [version]]' but got \"$first\".");
    }

    my $body_len = length($full) - $body_start;
    my ($lead, $trail) = (0, 0);
    my $len_header = '';
    if (!$is_chunked && $body_len > 0
        && $more_headers !~ /(?:^|\n)Content-Length:/)
    {
        # strip leading/trailing white space of the body (as the real one)
        my $pos = $body_start;
        while ($lead < $body_len
               && substr($full, $pos + $lead, 1) =~ /\s/) {
            $lead++;
        }
        while ($trail < $body_len - $lead
               && substr($full, length($full) - 1 - $trail, 1) =~ /\s/) {
            $trail++;
        }
        $len_header = "Content-Length: " . ($body_len - $lead - $trail)
                      . "\r\n";
    }

    $more_headers =~ s/(?<!\r)\n/\r\n/gs;
    my $headers = '';
    if ($more_headers !~ /(?:^|\n)Host:/msi) {
        $headers .= "Host: $ServerName\r\n";
    }
    if ($more_headers !~ /(?:^|\n)Connection/msi) {
        $headers .= "Connection: $conn_header\r\n";
    }
    $headers .= "$more_headers$len_header\r\n";

    push @seg, ['ins', "\r\n$headers"],
               ['del', $lead], ['keep', $body_len - $lead - $trail],
               ['del', $trail];

    # apply the segments to the packets
    my @in = map { $_ // '' } @$packets;
    @in = ('') if !@in;
    my @out = ('') x @in;
    my ($pi, $off) = (0, 0);
    for my $s (@seg) {
        my ($op, $arg) = @$s;
        if ($op eq 'ins') {
            $out[$pi] .= $arg;
            next;
        }
        my $n = $arg;
        while ($n > 0 && $pi < @in) {
            my $avail = length($in[$pi]) - $off;
            if ($avail <= 0) {
                $pi++;
                $off = 0;
                next;
            }
            my $take = $n < $avail ? $n : $avail;
            $out[$pi] .= substr($in[$pi], $off, $take) if $op eq 'keep';
            $off += $take;
            $n -= $take;
        }
        $pi = $#in if $pi > $#in;
    }

    return \@out;
}

# Returns a list of requests; each request is an arrayref of packets
# ({ value => $bytes, delay_before => $secs }).
sub get_req_from_block ($) {
    my $block = shift;
    my $name = $block->name;

    my @req_list;

    if (defined $block->raw_request) {
        my $raw = $block->raw_request;
        if (ref $raw && ref $raw eq 'ARRAY') {
            push @req_list, [ map { ref $_ ? $_ : { value => $_ } } @$raw ];
        } else {
            push @req_list, [ { value => $raw } ];
        }
        return \@req_list;
    }

    my $request;
    if (defined $block->request_eval) {
        diag "$name - request_eval DEPRECATED. Use request eval instead.";
        $request = eval $block->request_eval;
        warn $@ if $@;
    } else {
        $request = $block->request;
        if (defined $request && !ref $request) {
            # strip leading white space and comment lines
            while ($request =~ s/^\s*\#[^\n]+\s+|^\s+//gs) { }
        }
    }

    my $more_headers = $block->more_headers || '';

    my $get_hdr = sub {
        my $i = shift;
        if (ref $more_headers eq 'ARRAY') {
            my $hdr = $more_headers->[$i];
            if (!defined $hdr) {
                bail_out("$name - --- more_headers lacks data for the "
                         . "request $i");
            }
            return parse_more_headers($hdr);
        }
        return parse_more_headers($more_headers);
    };

    if (my $reqs = $block->pipelined_requests) {
        if (!ref $reqs || ref $reqs ne 'ARRAY') {
            bail_out("$name - invalid entries in --- pipelined_requests");
        }
        my $prq = '';
        for my $i (0 .. $#$reqs) {
            my $r = expand_env_in_text($reqs->[$i], $name,
                                       $Test::Nginx::Util::RandPorts);
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            my ($hdr, $is_chunked) = $get_hdr->($i);
            $prq .= build_request_from_packets($name, $hdr, $is_chunked,
                                               $conn, [$r])->[0];
        }
        push @req_list, [ { value => $prq } ];
        return \@req_list;
    }

    if (!defined $request) {
        bail_out("$name - no --- request (or --- raw_request) section");
    }

    if (!ref $request) {
        my ($hdr, $is_chunked) = $get_hdr->(0);
        my $r = build_request_from_packets($name, $hdr, $is_chunked,
                                           'close', [$request]);
        push @req_list, [ { value => $r->[0] } ];

    } elsif (ref $request eq 'ARRAY') {
        my $i = 0;
        for my $one_req (@$request) {
            my ($hdr, $is_chunked) = $get_hdr->($i);
            if (!ref $one_req) {
                my $r = build_request_from_packets($name, $hdr, $is_chunked,
                                                   'close', [$one_req]);
                push @req_list, [ { value => $r->[0] } ];

            } elsif (ref $one_req eq 'ARRAY') {
                my @pkts;
                for my $p (@$one_req) {
                    if (!ref $p) {
                        push @pkts, { value => $p };
                    } elsif (ref $p eq 'HASH') {
                        push @pkts, { %$p };
                    } else {
                        bail_out("$name - Invalid syntax. $p should be a "
                                 . "string or hash with value.");
                    }
                }
                my $r = build_request_from_packets($name, $hdr, $is_chunked,
                            'close', [ map { $_->{value} } @pkts ]);
                for my $j (0 .. $#pkts) {
                    $pkts[$j]{value} = $r->[$j];
                }
                push @req_list, \@pkts;

            } else {
                bail_out("$name - Invalid syntax. $one_req should be a "
                         . "string or an array of packets.");
            }
            $i++;
        }

    } else {
        bail_out("$name - invalid --- request: MUST be string or array "
                 . "of requests");
    }

    return \@req_list;
}

# ---------------------------------------------------------------------
# The HTTP client (raw socket, select loop, idle timeout)
# ---------------------------------------------------------------------

sub _connect ($$) {
    my ($name, $timeout) = @_;

    my $addr = $ServerAddr;
    my $port = $ServerPortForClient;
    my $max_tries = $TotalConnectingTimeouts ? 20 : 50;
    my $deadline = time + 10;
    my $err;

    for my $try (1 .. $max_tries) {
        my $sock = IO::Socket::INET->new(
            PeerAddr => $addr,
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        return $sock if $sock;

        $err = "$!";
        last if time >= $deadline;

        my $wait = (sleep_time() + sleep_time() * $try) * $try / 2;
        $wait = 1 if $wait > 1;
        if ($wait >= 0.6) {
            warn "$name - Can't connect to $addr:$port: $err\n"
                 . "\tRetry connecting after $wait sec\n";
        }
        sleep $wait;
    }

    my $msg = "$name - Can't connect to $addr:$port: $err (aborted)\n";
    if (++$TotalConnectingTimeouts < 3) {
        _no_ending();
        fail($msg);
    } else {
        bail_out($msg);
    }
    return undef;
}

# Sends one request (an arrayref of packets) and reads the response until
# the server closes the connection.  $timeout is an idle timeout, as in
# the real module: it fires when nothing could be read or written for that
# long.  Returns ($raw_response, $is_head_request, $timed_out).
sub send_request ($$$$) {
    my ($req, $middle_delay, $timeout, $block) = @_;

    my $name = $block->name;
    my @bits = @$req;

    my $head_req = (join('', map { $_->{value} // '' } @bits)
                    =~ /^\s*HEAD\s+/) ? 1 : 0;

    my $sock = _connect($name, $timeout) or return (undef, $head_req);
    $sock->blocking(0);

    local $SIG{PIPE} = 'IGNORE';

    my $resp = '';
    my $first = shift @bits;
    my $wbuf = $first->{value} // '';
    my $woff = 0;
    my $writing = 1;
    my $reading = 1;
    my $timed_out;

    my $sel_r = IO::Select->new($sock);
    my $sel_w = IO::Select->new($sock);

    if (defined $first->{delay_before} && $first->{delay_before} > 0) {
        sleep $first->{delay_before};
    }

    while ($reading || $writing) {
        my ($can_r, $can_w) = IO::Select->select(
            $reading ? $sel_r : undef,
            $writing ? $sel_w : undef,
            undef, $timeout);

        if (!$can_r && !$can_w) {
            next if $! == EINTR;
            $timed_out = 1;
            last;
        }

        if ($can_w && @$can_w && $writing) {
            WRITE: while (1) {
                my $rest = length($wbuf) - $woff;
                if ($rest > 0) {
                    my $n = syswrite($sock, $wbuf, $rest, $woff);
                    if (!defined $n) {
                        last WRITE if $! == EAGAIN || $! == EWOULDBLOCK
                                      || $! == EINTR;
                        # e.g. EPIPE/ECONNRESET when nginx rejects a large
                        # body early: stop writing, keep reading.
                        warn "WARNING: $name - write failed: $!\n"
                            if $Test::Nginx::Util::Verbose;
                        $writing = 0;
                        last WRITE;
                    }
                    $woff += $n;
                    next WRITE;
                }

                my $next = shift @bits;
                if (!defined $next) {
                    $writing = 0;
                    my $shutdown = $block->shutdown;
                    if (defined $shutdown) {
                        $shutdown = 1 if $shutdown =~ /^\s*$/s;
                        shutdown($sock, $shutdown + 0);
                    }
                    last WRITE;
                }

                $wbuf = $next->{value} // '';
                $woff = 0;
                my $wait = defined $next->{delay_before}
                           ? $next->{delay_before} : $middle_delay;
                sleep $wait if $wait;
            }
        }

        if ($can_r && @$can_r && $reading) {
            while (1) {
                my $buf;
                my $n = sysread($sock, $buf, 65536);
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                    # ECONNRESET etc.: the response ends here
                    warn "WARNING: $name - HTTP response read failure: $!\n"
                        if $Test::Nginx::Util::Verbose || $resp eq '';
                    $reading = 0;
                    $writing = 0;
                    last;
                }
                if ($n == 0) {
                    $reading = 0;
                    $writing = 0;
                    last;
                }
                $resp .= $buf;
            }
        }
    }

    close $sock;

    if ($timed_out) {
        if (!defined $block->abort) {
            _no_ending();
            fail("ERROR: client socket timed out - $name\n");
        }
    }

    return ($resp, $head_req, $timed_out);
}

# ---------------------------------------------------------------------
# Parsing responses
# ---------------------------------------------------------------------

sub _truncated ($$$) {
    my ($name, $block, $msg) = @_;
    if (defined $block->abort) {
        warn "WARNING: $name - $msg\n";
        return;
    }
    _no_ending();
    fail("$name - $msg");
}

# Returns ($res, $raw_headers, $left): an HTTP::Response whose content is
# the (de-chunked) body, the raw header block (status line included, as
# sent), and whatever bytes follow this response (pipelining).
sub parse_response ($$$$) {
    my ($name, $raw_resp, $head_req, $block) = @_;

    my $raw_headers = '';
    my $body_off;
    my $hend = index $raw_resp, "\r\n\r\n";
    if ($hend >= 0) {
        $raw_headers = substr($raw_resp, 0, $hend + 2);
        $body_off = $hend + 4;
    }

    my $res;
    if (defined $body_off) {
        $res = HTTP::Response->parse(substr($raw_resp, 0, $body_off));
        $res->content(substr($raw_resp, $body_off));
    } else {
        $res = HTTP::Response->parse($raw_resp);
    }

    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }

    if ($raw_resp ne '' && !defined $body_off) {
        _truncated($name, $block, "incomplete response header received: "
                   . show_all_chars(substr($raw_resp, 0, 200)));
        return ($res, $raw_headers, undef);
    }

    return ($res, $raw_headers, undef) if !defined $code;

    if ($code == 304 || $code == 204 || $code == 101 || $code < 200) {
        return ($res, $raw_headers, undef);
    }

    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $raw = $res->content // '';
    my $left;

    if ($head_req) {
        # no body whatever the headers say
        $left = $raw if $raw ne '';
        $res->content('');
        return ($res, $raw_headers, $left);
    }

    if (defined $enc && $enc =~ /\bchunked\b/i) {
        my $decoded = '';
        my $pos = 0;
        my $complete;
        while (1) {
            my $eol = index $raw, "\r\n", $pos;
            if ($eol < 0) {
                _truncated($name, $block, "no last chunk found in the "
                           . "chunked response body (truncated response)");
                last;
            }
            my $line = substr($raw, $pos, $eol - $pos);
            if ($line !~ /^[ \t]*([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/) {
                _truncated($name, $block, "invalid chunked body received: "
                           . show_all_chars(substr($line, 0, 100)));
                last;
            }
            my $size = hex $1;
            $pos = $eol + 2;

            if ($size == 0) {
                # optional trailers, then the empty line
                my $ok;
                while (1) {
                    my $e = index $raw, "\r\n", $pos;
                    last if $e < 0;
                    my $tl = substr($raw, $pos, $e - $pos);
                    $pos = $e + 2;
                    if ($tl eq '') {
                        $ok = 1;
                        last;
                    }
                }
                if (!$ok) {
                    _truncated($name, $block, "incomplete last chunk "
                               . "(missing CRLF) in the chunked response");
                    last;
                }
                $complete = 1;
                last;
            }

            if (length($raw) - $pos < $size + 2) {
                $decoded .= substr($raw, $pos) if length($raw) > $pos;
                _truncated($name, $block, "invalid chunked data received "
                           . "(not enough octets for the data section: "
                           . "truncated response)");
                last;
            }
            $decoded .= substr($raw, $pos, $size);
            $pos += $size;
            if (substr($raw, $pos, 2) ne "\r\n") {
                _truncated($name, $block, "invalid chunked data received "
                           . "(expected CRLF).");
                last;
            }
            $pos += 2;
        }
        if ($complete && $pos < length $raw) {
            $left = substr($raw, $pos);
        }
        $res->content($decoded);

    } elsif (defined $len && $len =~ /^\s*(\d+)\s*$/) {
        $len = $1;
        if (length $raw < $len) {
            _truncated($name, $block, "response body truncated: $len "
                       . "expected, but got " . length($raw));
        } elsif (length $raw > $len) {
            $left = substr($raw, $len);
            $res->content(substr($raw, 0, $len));
        }
    }
    # else: close-delimited, the body is whatever we read

    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------

sub get_indexed_value ($$$$) {
    my ($name, $value, $req_idx, $need_array) = @_;
    if ($need_array) {
        if (ref $value && ref $value eq 'ARRAY') {
            return $value->[$req_idx];
        }
        bail_out("$name - You asked for many requests, the expected "
                 . "results should be arrays as well.");
    }
    if (ref $value && ref $value eq 'ARRAY') {
        return $value->[0];
    }
    return $value;
}

sub check_error_code ($$$$$) {
    my ($block, $res, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    SKIP: {
        skip "$name - tests skipped due to $dry_run", 1 if $dry_run;
        if (defined $block->error_code_like) {
            my $val = get_indexed_value($name, $block->error_code_like,
                                        $req_idx, $need_array);
            like($got, qr/$val/sm, "$name - status code ok");
        } elsif (defined $block->error_code) {
            is($got, get_indexed_value($name, $block->error_code, $req_idx,
                                       $need_array),
               "$name - status code ok");
        } else {
            is($got, 200, "$name - status code ok");
        }
    }
}

sub check_raw_response_headers ($$$$$) {
    my ($block, $raw_headers, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        SKIP: {
            skip "$name - tests skipped due to $dry_run", 1 if $dry_run;
            my $expected = get_indexed_value($name,
                $block->raw_response_headers_like, $req_idx, $need_array);
            like($raw_headers, qr/$expected/s,
                 "$name - raw resp headers like");
        }
    }
    if (defined $block->raw_response_headers_unlike) {
        SKIP: {
            skip "$name - tests skipped due to $dry_run", 1 if $dry_run;
            my $expected = get_indexed_value($name,
                $block->raw_response_headers_unlike, $req_idx, $need_array);
            unlike($raw_headers, qr/$expected/s,
                   "$name - raw resp headers unlike");
        }
    }
}

sub check_response_headers ($$$$$$) {
    my ($block, $res, $raw_headers, $dry_run, $req_idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $headers = parse_headers(get_indexed_value($name,
            $block->response_headers, $req_idx, $need_array));
        for my $key (sort keys %$headers) {
            my $val = $headers->{$key};
            if (!defined $val) {
                SKIP: {
                    skip "$name - tests skipped due to $dry_run", 1
                        if $dry_run;
                    unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                           "$name - header $key not present in the raw "
                           . "headers");
                }
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = $res ? scalar $res->header($key) : undef;
            $actual //= '';
            SKIP: {
                skip "$name - tests skipped due to $dry_run", 1 if $dry_run;
                is($actual, $val, "$name - header $key ok");
            }
        }

    } elsif (defined $block->response_headers_like) {
        my $headers = parse_headers(get_indexed_value($name,
            $block->response_headers_like, $req_idx, $need_array));
        for my $key (sort keys %$headers) {
            my $val = $headers->{$key} // '';
            my $actual = $res ? scalar $res->header($key) : undef;
            $actual //= '';
            SKIP: {
                skip "$name - tests skipped due to $dry_run", 1 if $dry_run;
                like($actual, qr/^$val$/, "$name - header $key like ok");
            }
        }
    }
}

sub run_filter_helper ($$$) {
    my ($block, $filter, $content) = @_;
    my $name = $block->name;

    if (ref $filter && ref $filter eq 'CODE') {
        return $filter->($content);
    }
    if (ref $filter) {
        bail_out("$name - the --- response_body_filters section only "
                 . "supports subroutine reference values and string values");
    }

    my %f = (
        md5_hex  => sub { Digest::MD5::md5_hex($_[0]) },
        sha1_hex => sub { Digest::SHA::sha1_hex($_[0]) },
        uc       => sub { uc $_[0] },
        lc       => sub { lc $_[0] },
        ucfirst  => sub { ucfirst $_[0] },
        lcfirst  => sub { lcfirst $_[0] },
        length   => sub { length $_[0] },
    );
    my $code = $f{$filter}
        or bail_out("$name - unknown filter, \"$filter\", specified in "
                    . "the --- response_body_filters section");
    return $code->($content);
}

sub transform_response_body ($$$) {
    my ($block, $res, $req_idx) = @_;
    return if !defined $res;
    my $content = $res->content;
    return if !defined $content;

    my $filters = $block->response_body_filters;
    return if !defined $filters;

    my $name = $block->name;
    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//gs;
        $filters = [split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }

    my $f = $filters;
    if (ref $filters->[0] && ref $filters->[0] eq 'ARRAY') {
        $f = $filters->[$req_idx];
        bail_out("$name - the --- response_body_filters two-dimensional "
                 . "array does not match request $req_idx") if !defined $f;
    }
    $f = [$f] if !ref $f || ref $f ne 'ARRAY';

    for my $one (@$f) {
        $content = run_filter_helper($block, $one, $content);
    }
    $res->content($content);
}

sub check_response_body ($$$$$$) {
    my ($block, $res, $dry_run, $req_idx, $repeated_req_idx, $need_array)
        = @_;
    my $name = $block->name;

    if (defined(my $f = $block->write_resp_body_file) && defined $res) {
        if (open my $out, '>', $f) {
            print $out $res->content // '';
            close $out;
        }
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $content = $res ? $res->content : undef;

        if (defined $block->response_body_json_sort && defined $content) {
            my $js = JSON::PP->new->canonical(1);
            my $obj;
            if (eval { $obj = $js->loose(1)->decode($content); 1 }) {
                $content = $js->encode($obj) . "\n";
            }
        }

        my $expected;
        if ($block->response_body_eval) {
            diag "$name - response_body_eval is DEPRECATED. Use "
                 . "response_body eval instead.";
            $expected = eval get_indexed_value($name,
                $block->response_body_eval, $req_idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, $block->response_body,
                                          $req_idx, $need_array);
        }

        if ($block->charset && defined $expected) {
            Encode::from_to($expected, 'UTF-8', $block->charset);
        }

        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env_in_text($expected, $name,
                                           $Test::Nginx::Util::RandPorts);
        }

        my $desc = "$name - response_body - response is expected "
                   . "(repeated req $repeated_req_idx, req $req_idx)";
        SKIP: {
            skip "$name - tests skipped due to $dry_run", 1 if $dry_run;
            if (ref $expected) {
                like($content, $expected, "$name - response_body - like "
                     . "(repeated req $repeated_req_idx, req $req_idx)");
            } elsif ($NoLongString) {
                is($content, $expected, $desc);
            } else {
                is_string($content, $expected, $desc);
            }
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my ($patterns, $type);
        if (defined $block->response_body_like) {
            ($patterns, $type) = ($block->response_body_like, 'like');
        } else {
            ($patterns, $type) = ($block->response_body_unlike, 'unlike');
        }

        my $content = $res ? $res->content : undef;
        my $pat = get_indexed_value($name, $patterns, $req_idx, $need_array);
        if (!ref $pat) {
            $pat =~ s/\$ServerPort\b/$ServerPort/g;
            $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $summary = trim($content) // '';
        if (length $summary > 200) {
            $summary = substr($summary, 0, 200) . '...';
        }

        SKIP: {
            skip "$name - tests skipped due to $dry_run", 1 if $dry_run;
            my $desc = "$name - response_body_$type - response is expected "
                       . "($summary)";
            if ($type eq 'like') {
                like($content, qr/$pat/s, $desc);
            } else {
                unlike($content, qr/$pat/s, $desc);
            }
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $res ? $res->content : undef, $req_idx,
                 $repeated_req_idx, $dry_run);
    }
}

sub fmt_str ($) {
    my $str = shift;
    chomp $str;
    $str =~ s/"/\\"/g;
    $str =~ s/\r/\\r/g;
    $str =~ s/\n/\\n/g;
    return $str;
}

sub value_contains ($$) {
    my ($val, $pat) = @_;
    if (!ref $val || ref $val eq 'Regexp') {
        return $val =~ /\Q$pat\E/;
    }
    if (ref $val eq 'ARRAY') {
        for my $v (@$val) {
            return 1 if value_contains($v, $pat);
        }
    }
    return undef;
}

# "--- error_log" text (one pattern a line), a qr//, or an arrayref of
# strings and qr// (with the eval filter) => arrayref of patterns
sub _patterns ($) {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [ split /\n+/, $pats ];
    }
    if (ref $pats eq 'Regexp') {
        return [$pats];
    }
    return [ @$pats ];
}

sub _line_matches ($$) {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ /$pat/ : index($line, $pat) >= 0;
}

# one test per pattern: pass if some line matches it
sub _check_log_has ($$$$$) {
    my ($name, $what, $pats, $lines, $dry_run) = @_;
    for my $pat (@$pats) {
        next if !defined $pat;
        my $found = grep { _line_matches($_, $pat) } @$lines;
        SKIP: {
            skip "$name - $what - tests skipped due to $dry_run", 1
                if $dry_run;
            if ($found) {
                pass("$name - pattern \"$pat\" matches a line in $what");
            } else {
                fail("$name - pattern \"$pat\" should match a line in $what");
            }
        }
    }
}

# one test per pattern: fail if some line matches it
sub _check_log_lacks ($$$$$) {
    my ($name, $what, $pats, $lines, $dry_run) = @_;
    for my $pat (@$pats) {
        next if !defined $pat;
        my $p = fmt_str($pat);
        my $idx;
        for my $i (0 .. $#$lines) {
            if (_line_matches($lines->[$i], $pat)) {
                $idx = $i;
                last;
            }
        }
        SKIP: {
            skip "$name - $what - tests skipped due to $dry_run", 1
                if $dry_run;
            if (defined $idx) {
                my $ln = fmt_str($lines->[$idx]);
                my $last = min($idx + 9, $#$lines);
                my @more = @{$lines}[$idx + 1 .. $last];
                fail("$name - pattern \"$p\" should not match any line in "
                     . "$what but matches line \"$ln\"\n" . join '', @more);
            } else {
                pass("$name - pattern \"$p\" does not match a line in $what");
            }
        }
    }
}

sub check_access_log ($$$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $lines;

    if (defined $block->access_log) {
        $lines ||= access_log_data();
        _check_log_has($name, "access.log (req $repeated_req_idx)",
                       _patterns($block->access_log), $lines, $dry_run);
    }
    if (defined $block->no_access_log) {
        $lines ||= access_log_data();
        _check_log_lacks($name, "access.log (req $repeated_req_idx)",
                         _patterns($block->no_access_log), $lines, $dry_run);
    }
}

sub check_error_log ($$$$$) {
    my ($block, $res, $dry_run, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;

    my %warn_on = ( alert => 1, crit => 1, emerg => 1 );

    my $grep_pats = $block->grep_error_log;
    my $grep_pat;
    if (defined $grep_pats) {
        $grep_pat = (ref $grep_pats && ref $grep_pats eq 'ARRAY')
                    ? $grep_pats->[$repeated_req_idx] : $grep_pats;
        if (defined $grep_pat && !ref $grep_pat) {
            chomp $grep_pat;
        }
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but "
                 . "--- grep_error_log_out is defined");
    }

    if (defined $grep_pat) {
        my $expected = $block->grep_error_log_out;
        if (!defined $expected) {
            bail_out("$name - No --- grep_error_log_out defined but "
                     . "--- grep_error_log is defined");
        }
        if (ref $expected && ref $expected eq 'ARRAY') {
            $expected = $expected->[$repeated_req_idx];
        }
        if (defined $expected && !ref $expected) {
            $expected = expand_env_in_text($expected, $name,
                                           $Test::Nginx::Util::RandPorts);
        }

        SKIP: {
            skip "$name - error_log - tests skipped due to $dry_run", 1
                if $dry_run;
            $lines ||= error_log_data();
            my $matched = '';
            for my $line (@$lines) {
                if (ref $grep_pat ? $line =~ /$grep_pat/
                                  : $line =~ /\Q$grep_pat\E/)
                {
                    my $m = $&;
                    $matched .= "$m\n" if $m !~ /\n/;
                }
            }
            my $desc = "$name - grep_error_log_out (req $repeated_req_idx)";
            if (ref $expected && ref $expected eq 'Regexp') {
                like($matched, $expected, $desc);
            } elsif ($NoLongString) {
                is($matched, $expected, $desc);
            } else {
                is_string($matched, $expected, $desc);
            }
        }
    }

    for my $sec (qw( error_log no_error_log )) {
        my $pats = $block->$sec;
        next if !defined $pats;
        for my $lvl (keys %warn_on) {
            delete $warn_on{$lvl} if value_contains($pats, "[$lvl");
        }
        $lines ||= error_log_data();
        if ($sec eq 'error_log') {
            _check_log_has($name, "error.log (req $repeated_req_idx)",
                           _patterns($pats), $lines, $dry_run);
        } else {
            _check_log_lacks($name, "error.log (req $repeated_req_idx)",
                             _patterns($pats), $lines, $dry_run);
        }
    }

    if (!$dry_run && %warn_on) {
        $lines ||= error_log_data();
        for my $line (@$lines) {
            for my $lvl (sort keys %warn_on) {
                if (index($line, "[$lvl]") >= 0) {
                    warn "WARNING: $name - " . fmt_str($line) . "\n";
                }
            }
        }
    }

    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            _no_ending();
            chomp(my $l = $line);
            fail("$name - $l\n");
        }
    }
}

sub check_shutdown_error_log ($$) {
    my ($block, $dry_run) = @_;
    my $name = $block->name;
    my $lines;

    if (defined $block->shutdown_error_log) {
        $lines ||= error_log_data();
        _check_log_has($name, "error.log (shutdown)",
                       _patterns($block->shutdown_error_log), $lines,
                       $dry_run);
    }
    if (defined $block->no_shutdown_error_log) {
        $lines ||= error_log_data();
        _check_log_lacks($name, "error.log (shutdown)",
                         _patterns($block->no_shutdown_error_log), $lines,
                         $dry_run);
    }
}

# ---------------------------------------------------------------------
# One run of a block's request(s) and checks
# ---------------------------------------------------------------------

sub run_test_helper ($$$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;

    my $r_req_list = get_req_from_block($block);
    if (!@$r_req_list) {
        bail_out("$name - request empty");
    }

    my $timeout = parse_time($block->timeout);
    if (defined $timeout) {
        $timeout =~ s/^\s+|\s+$//g;
    }
    $timeout = timeout() if !defined $timeout || $timeout eq '';

    my $res;
    my $req_idx = 0;
    my ($n, $need_array);

    for my $one_req (@$r_req_list) {
        my ($raw_resp, $head_req);
        if ($dry_run) {
            $raw_resp = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        } else {
            ($raw_resp, $head_req) = send_request($one_req,
                $block->raw_request_middle_delay, $timeout, $block);
        }

        if ($block->pipelined_requests) {
            $n = @{ $block->pipelined_requests };
            $need_array = 1;
        } else {
            $need_array = @$r_req_list > 1;
        }

        while (1) {
            $raw_resp //= '';
            warn "!!! resp: [$raw_resp]\n" if $Test::Nginx::Util::Verbose;

            my ($raw_headers, $left);
            if (!defined $block->ignore_response) {
                if (defined $block->http09) {
                    $res = HTTP::Response->new(200, "OK", [], $raw_resp);
                    $raw_headers = '';
                } else {
                    ($res, $raw_headers, $left)
                        = parse_response($name, $raw_resp, $head_req, $block);
                }
            }

            if (!$n) {
                if (defined $left && $left ne '') {
                    (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after the "
                         . "response: \"$l\"\n";
                }
            } else {
                $raw_resp = $left;
                $n--;
            }

            if (!defined $block->ignore_response) {
                check_error_code($block, $res, $dry_run, $req_idx,
                                 $need_array);
                check_raw_response_headers($block, $raw_headers, $dry_run,
                                           $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run,
                                       $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $dry_run, $req_idx,
                                    $repeated_req_idx, $need_array);
            }

            if ($n || $req_idx < @$r_req_list - 1) {
                sleep parse_time($block->wait) if $block->wait;
                check_error_log($block, $res, $dry_run, $repeated_req_idx,
                                $need_array);
                if (!defined $block->ignore_response) {
                    check_access_log($block, $dry_run, $repeated_req_idx);
                }
            }

            $req_idx++;
            last if !$n;
        }
    }

    sleep parse_time($block->wait) if $block->wait;

    check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
    if (!defined $block->ignore_response) {
        check_access_log($block, $dry_run, $repeated_req_idx);
    }
}

1;
__END__

=encoding utf8

=head1 NAME

Test::Nginx::Socket - ngx-wsgi's compatible subset of CPAN's
Test::Nginx::Socket

=head1 SYNOPSIS

    use Test::Nginx::Socket 'no_plan';   # or: plan tests => ...

    repeat_each(2);
    no_shuffle();
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location /t { return 200 "hi\n"; }
    --- request
    GET /t
    --- response_body
    hi
    --- no_error_log
    [error]

Run with C<prove -I t/lib -r t>; the C<.t> files never C<use lib 't/lib'>,
so that they run unchanged under the real CPAN module too.

=head1 DESCRIPTION

CPAN cannot be reached on the ngx-wsgi build machines, so this is a
from-scratch re-implementation of the parts of openresty's Test::Nginx that
the project's tests use, built on Debian's Test::Base.  Names, defaults,
generated F<nginx.conf>, test names and the number of tests each section
produces follow the real module, so that C<plan tests =E<gt> ...> counts
are the same under both.

=head2 Functions

C<run_tests>, C<repeat_each>, C<workers>, C<worker_connections>,
C<master_on>, C<master_off>, C<master_process_enabled>, C<log_level>,
C<no_shuffle>, C<no_long_string>, C<no_root_location>, C<env_to_nginx>,
C<add_block_preprocessor>, C<add_response_body_check>,
C<add_cleanup_handler>, C<add_test_cleanup_handler>, C<config_preamble>,
C<timeout>, C<server_name>, C<server_addr>, C<server_port>,
C<server_port_for_client>, C<html_dir>, C<server_root>,
C<check_accum_error_log>, C<no_nginx_manager>, C<bail_out>, C<is_str>;
plus Test::Base's exports (C<plan>, C<blocks>, C<is>, C<like>, C<ok>,
C<is_deeply>, C<diag>, ...).

=head2 Sections

Server: C<main_config>, C<http_config>, C<config>, C<post_main_config>,
C<user_files>, C<log_level>, C<error_log_file>, C<server_name>,
C<must_die> (optionally an exit code), C<post_setup_server_root>, C<init>,
C<suppress_stderr>.

Requests: C<request> (also C<request eval>, arrays of requests and of
packets), C<request_eval>, C<more_headers> (string or array),
C<raw_request> (string or array of bits), C<raw_request_middle_delay>,
C<pipelined_requests>, C<timeout>, C<abort>, C<shutdown>, C<http09>.

Responses: C<error_code>, C<error_code_like>, C<response_headers>,
C<response_headers_like>, C<raw_response_headers_like>,
C<raw_response_headers_unlike>, C<response_body>, C<response_body_eval>,
C<response_body_like>, C<response_body_unlike>, C<response_body_filters>,
C<response_body_json_sort>, C<charset>, C<write_resp_body_file>,
C<ignore_response>.

Logs: C<error_log>, C<no_error_log>, C<grep_error_log>,
C<grep_error_log_out>, C<shutdown_error_log>, C<no_shutdown_error_log>,
C<access_log>, C<no_access_log>, C<wait>.

Control: C<SKIP>, C<ONLY>, C<LAST> (from Test::Base), C<skip_eval>,
C<skip_nginx>, C<todo>.

=head2 Environment

C<TEST_NGINX_BINARY> (default C<nginx> on the C<PATH>), C<TEST_NGINX_PORT> /
C<TEST_NGINX_SERVER_PORT> (1984), C<TEST_NGINX_CLIENT_PORT>,
C<TEST_NGINX_SERVROOT> (F<t/servroot>, made absolute),
C<TEST_NGINX_LOAD_MODULES> (C<load_module> lines at the top of
F<nginx.conf>), C<TEST_NGINX_NO_CLEAN> (leave nginx running at the end),
C<TEST_NGINX_LOG_LEVEL> (debug), C<TEST_NGINX_TIMEOUT> (3 seconds),
C<TEST_NGINX_SLEEP> (0.015), C<TEST_NGINX_MASTER_PROCESS>,
C<TEST_NGINX_NO_SHUFFLE>, C<TEST_NGINX_CHECK_ACCUM_ERR_LOG>,
C<TEST_NGINX_WORKER_USER>, C<TEST_NGINX_RANDOMIZE>, C<TEST_NGINX_ERROR_LOG>,
C<TEST_NGINX_FAST_SHUTDOWN>, C<TEST_NGINX_VERBOSE>.
C<TEST_NGINX_HTML_DIR> defaults to the html directory of the server root
(the real module leaves it unset).  C<$TEST_NGINX_FOO> in C<main_config>,
C<http_config>, C<config>, C<post_main_config>, C<user_files>,
C<pipelined_requests>, C<response_body> and C<grep_error_log_out> is
replaced by C<$ENV{TEST_NGINX_FOO}> (an undefined variable is fatal), and
C<$TEST_NGINX_RAND_PORT_N> by a free port, as in the real module.

=head1 DIFFERENCES FROM THE REAL MODULE

Stricter: a response cut short (fewer bytes than its Content-Length, a
chunked body without its last chunk, an incomplete header) is a test
failure unless the block has C<--- abort> (then a warning), where the real
module only warns for short Content-Length bodies.  An nginx that fails to
start fails the block (with its stderr) instead of bailing out of the whole
file after 30 seconds of retries.  With C<--- must_die>, C<error_log> also
sees nginx's stderr.  C<no_error_log> fails at most once per pattern.

Not supported: HUP reload mode, valgrind, systemtap, check-leak and
benchmark modes, HTTP/2 and HTTP/3 (curl), C<tcp_listen>/C<udp_listen>
mock servers, C<curl>, C<skip_nginx2>, C<skip_openssl>, C<skip_slave>,
C<todo_nginx>, C<stap*>.  The corresponding environment variables are
ignored (with a warning).

=cut
