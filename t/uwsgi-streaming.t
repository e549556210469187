# A streamed response through uwsgi_upstream arrives as stock uwsgi_pass
# passes it, side by side, with the same uWSGI container (Debian's uwsgi,
# from scripts/test-upstreams.sh). The container's /drip yields a line only
# once the client has the one before (t/apps/drip_client.py), so "one at a
# time" means each line was passed on as it was produced, and "held back"
# that the proxy kept it until the app gave up waiting; no wall-clock
# threshold decides.
#
# With buffering on, nginx's event pipe passes a response on a full buffer
# at a time, or at its end: stock uwsgi_pass holds three short lines, and so
# does uwsgi_upstream. Buffering off, or the app's X-Accel-Buffering: no,
# streams with both.
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
add_block_preprocessor(sub {
    my $block = shift;
    my $buffering = $block->buffering // 'on';
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;\n    wsgi_threads 4;");
    $block->set_value("config", <<"CONF");
    location /drip { wsgi_app drip_client:drip; }
    location /stock/ {
        uwsgi_buffering $buffering;
        include /etc/nginx/uwsgi_params;
        uwsgi_pass 127.0.0.1:\$TEST_NGINX_UWSGI_PORT;
    }
    location /ours/ {
        uwsgi_upstream_buffering $buffering;
        uwsgi_upstream 127.0.0.1:\$TEST_NGINX_UWSGI_PORT;
    }
CONF
    $block->set_value("no_error_log", "[error]\n[alert]");
    $block->set_value("timeout", 30);
});

run_tests();

__DATA__

=== TEST 1: buffering on: both hold three short lines back until the app gave up waiting (1 s each)
--- request eval
["GET /drip?/stock/&1", "GET /drip?/ours/&1"]
--- response_body eval
["/stock/: held back (1+2+3)\n", "/ours/: held back (1+2+3)\n"]



=== TEST 2: buffering off: both pass each line on as it is produced
--- buffering: off
--- request eval
["GET /drip?/stock/&10", "GET /drip?/ours/&10"]
--- response_body eval
["/stock/: one at a time (1 2 3)\n", "/ours/: one at a time (1 2 3)\n"]



=== TEST 3: buffering on, and the app says X-Accel-Buffering: no: both stream
--- request eval
["GET /drip?/stock/&10&noaccel", "GET /drip?/ours/&10&noaccel"]
--- response_body eval
["/stock/: one at a time (1 2 3)\n", "/ours/: one at a time (1 2 3)\n"]
