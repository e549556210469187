# asgi_app WebSockets (ASGI websocket scope, spec 2.4), end to end: the
# handshake and the scope; messages both ways, fragmented and large; nginx
# answering Pings and running the closing handshake; the app's refusals,
# failures and closes; the invalid handshakes and the clients that break
# the protocol; a client that vanishes; backpressure both ways; many
# connections at once; the keepalive Pings of asgi_websocket_timeout; the
# 1001 of a worker that goes away on a reload.
#
# The apps are in t/apps/asgi_ws.py: ASGI targets, and WSGI drivers that
# act as the client (t/apps/ws_client.py, a minimal RFC 6455 client) and
# answer with what they observed, the targets' own notes included (one
# worker: the drivers and the targets share the module).
use Test::Nginx::Socket 'no_plan';

master_on();
no_shuffle();
no_root_location();
worker_connections(1024);
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", "wsgi_python_path \$TEST_NGINX_APPS;\n    asgi_lifespan off;")
        unless defined $block->http_config;
    $block->set_value("no_error_log", "[alert]\n[crit]")
        unless defined $block->no_error_log;
    $block->set_value("timeout", 30) unless defined $block->timeout;
});

run_tests();

__DATA__
=== TEST 1: the handshake: a 101 with the accept key, the chosen subprotocol and the app's own headers (not those the server owns); receive() gives websocket.connect first; the scope is the spec's
--- config
    location /drive { wsgi_app asgi_ws:drive_scope; }
    location /ws/scope/ { asgi_app asgi_ws:scope; }
--- request
GET /drive
--- response_body
status line: 'HTTP/1.1 101 '
Server: ...
Date: ...
Connection: upgrade
x-app: yes
Upgrade: websocket
Sec-WebSocket-Accept: (the key's)
Sec-WebSocket-Protocol: superchat
first receive(): {"type": "websocket.connect"}
scope: {
 "asgi": {
  "spec_version": "2.4",
  "version": "3.0"
 },
 "client": [
  "127.0.0.1",
  "int"
 ],
 "headers": [
  [
   "host",
   "localhost"
  ],
  [
   "upgrade",
   "websocket"
  ],
  [
   "connection",
   "Upgrade"
  ],
  [
   "sec-websocket-key",
   "(random)"
  ],
  [
   "sec-websocket-version",
   "13"
  ],
  [
   "sec-websocket-protocol",
   "chat, superchat"
  ],
  [
   "x-multi",
   "1"
  ],
  [
   "x-multi",
   "2"
  ]
 ],
 "http_version": "1.1",
 "path": "/ws/scope/a b",
 "query_string": "x=1&y=%20",
 "raw_path": "/ws/scope/a%20b",
 "root_path": "/ws/scope",
 "scheme": "ws",
 "server": [
  "127.0.0.1",
  "int"
 ],
 "subprotocols": [
  "chat",
  "superchat"
 ],
 "type": "websocket"
}
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes



=== TEST 2: echo: text and binary, empty, fragmented (a character split between fragments), 1 MiB binary and 100 KiB of text both ways: each comes back as one final frame, exactly as sent
--- config
    location /drive { wsgi_app asgi_ws:drive_echo; }
    location /ws/echo { asgi_app asgi_ws:echo; }
--- request
GET /drive
--- response_body
text 'hello': text 'hello'
text of 1 to 4-byte characters: text 'héllo, wörld ✓ 😀'
binary: binary b'\x00\x01\xfe\xff'
empty text: text ''
empty binary: binary b''
text in 3 fragments: text 'fragmented'
text with a character split between fragments: text 'café!'
binary in 3 fragments, one empty: binary b'\x01\x02\x03'
1 MiB binary: binary 1048576 bytes, sha256 5905cb882b14d26f
1 MiB binary in 3 fragments: binary 1048576 bytes, sha256 5905cb882b14d26f
100 KiB of text of 1 to 4-byte characters: text 102400 bytes, sha256 6c8928f82410ce0c
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes



=== TEST 3: nginx answers each Ping with a Pong of its payload, even between the fragments of a message; a Pong from the client gets no answer and never reaches the app
--- config
    location /drive { wsgi_app asgi_ws:drive_ping; }
    location /ws/echo { asgi_app asgi_ws:echo; }
--- request
GET /drive
--- response_body
ping 'are you there?': pong b'are you there?'
empty ping: pong b''
ping of 125 bytes: pong, same payload
unsolicited pong, then text 'after the pong': text 'after the pong'
'a', ping 'in between', 'b': pong b'in between', then text 'ab'
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes



=== TEST 4: a Ping while the app streams 20 MiB to a slow reader: the Pong comes whole between two of the app's frames, and every frame is valid
--- config
    location /drive { wsgi_app asgi_ws:drive_ping_streaming; }
    location /ws/stream { asgi_app asgi_ws:stream; }
--- request
GET /drive
--- response_body
the Pong: pong b'ping while streaming', whole, between two of the app's frames
then: text 'done'
the app's messages: 20, each one final frame, exactly as sent: yes
the Pong came before the app's last message: yes
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes
the app: disconnect 1000 ''



=== TEST 5: the client's Close 1000 "bye": nginx echoes the code and closes the connection; the app receives what came before, then the disconnect with the code and reason
--- config
    location /drive { wsgi_app asgi_ws:drive_client_close; }
    location /ws/recorder { asgi_app asgi_ws:recorder; }
--- request
GET /drive?bye
--- response_body
our Close 1000 'bye': answered with close 1000 ''
then the server closed the connection: yes
the app received: text 'before'
the app received: disconnect 1000 'bye'



=== TEST 6: the client's Close without a code: an empty Close in answer; the app's disconnect has 1005
--- config
    location /drive { wsgi_app asgi_ws:drive_client_close; }
    location /ws/recorder { asgi_app asgi_ws:recorder; }
--- request
GET /drive?empty
--- response_body
our empty Close: answered with close (empty)
then the server closed the connection: yes
the app received: text 'before'
the app received: disconnect 1005 ''



=== TEST 7: the app's websocket.close (4000 and a reason) reaches the client; then send() raises RuntimeError, and receive() gives the client's answer
--- config
    location /drive { wsgi_app asgi_ws:drive_app_close; }
    location /ws/closer { asgi_app asgi_ws:closer; }
--- request
GET /drive
--- response_body
received: text 'closing', close 4000 "the app's reason"
our Close 4000 in answer; then the server closed the connection: yes
the app: send() after the close raised RuntimeError: the WebSocket is closed: nothing more may be sent
the app: then receive() gave disconnect 4000 ''



=== TEST 8: a client that never answers the app's Close: nginx closes the connection after 5 s; the app's receive() gives 1006
--- config
    location /drive { wsgi_app asgi_ws:drive_unanswered_close; }
    location /ws/closer { asgi_app asgi_ws:closer; }
--- request
GET /drive
--- response_body
received: text 'closing', close 4000 "the app's reason"
no answer; the server closed the connection: yes
the app: send() after the close raised RuntimeError: the WebSocket is closed: nothing more may be sent
the app: then receive() gave disconnect 1006 ''



=== TEST 9: websocket.close before websocket.accept: 403
--- config
    location /ws/refuses { asgi_app asgi_ws:refuses; }
--- request
GET /ws/refuses
--- more_headers
Upgrade: websocket
Connection: Upgrade, close
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 403
--- response_headers
!Upgrade
!Sec-WebSocket-Accept
--- response_body
403 Forbidden
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: an exception before the accept: 500, and the traceback in the error log
--- config
    location /ws/fails_before { asgi_app asgi_ws:fails_before; }
--- request
GET /ws/fails_before
--- more_headers
Upgrade: websocket
Connection: Upgrade, close
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 500
--- response_body
500 Internal Server Error
--- error_log eval
[qr/\[error\] .*wsgi: application raised an exception: ValueError: failed before the accept, client: 127\.0\.0\.1, .*request: "GET \/ws\/fails_before HTTP\/1\.1"/,
 qr/\[error\] .*Traceback \(most recent call last\)/,
 qr/\[error\] .*raise ValueError\("failed before the accept"\)/]



=== TEST 11: the app returns without accepting or closing: 500, and an error
--- config
    location /ws/returns_before { asgi_app asgi_ws:returns_before; }
--- request
GET /ws/returns_before
--- more_headers
Upgrade: websocket
Connection: Upgrade, close
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 500
--- response_body
500 Internal Server Error
--- error_log eval
qr/\[error\] .*the application returned without accepting or closing the WebSocket, client: 127\.0\.0\.1, .*request: "GET \/ws\/returns_before HTTP\/1\.1"/



=== TEST 12: an exception after the accept: the client gets what was sent, then Close 1011; the traceback is in the error log
--- config
    location /drive { wsgi_app asgi_ws:drive_until_close; }
    location /ws/fails_after { asgi_app asgi_ws:fails_after; }
--- request
GET /drive?/ws/fails_after
--- response_body
received: text 'about to fail', close 1011 ''
our Close in answer; then the server closed the connection: yes
--- error_log eval
[qr/\[error\] .*wsgi: application raised an exception: RuntimeError: failed after the accept, client: 127\.0\.0\.1, .*request: "GET \/ws\/fails_after HTTP\/1\.1"/,
 qr/\[error\] .*raise RuntimeError\("failed after the accept"\)/]



=== TEST 13: an app that returns after the accept closes with 1000
--- config
    location /drive { wsgi_app asgi_ws:drive_until_close; }
    location /ws/returns_after { asgi_app asgi_ws:returns_after; }
--- request
GET /drive?/ws/returns_after
--- response_body
received: text 'done, returning', close 1000 ''
our Close in answer; then the server closed the connection: yes
--- no_error_log
[error]
[alert]
[crit]



=== TEST 14: Sec-WebSocket-Version 12: 426 with Sec-WebSocket-Version: 13; the app is not called
--- config
    location /ws/not_called { asgi_app asgi_ws:not_called; }
--- request
GET /ws/not_called
--- more_headers
Upgrade: websocket
Connection: Upgrade, close
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 12
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
!Upgrade
--- response_body
426 Upgrade Required: WebSocket version 13 only
--- error_log eval
qr/\[info\] .*client sent an invalid WebSocket handshake: websocket handshake with a Sec-WebSocket-Version missing or other than 13, client: 127\.0\.0\.1/
--- no_error_log
asgi_ws: not_called was called
[error]
[alert]



=== TEST 15: no Sec-WebSocket-Key: 400; the app is not called
--- config
    location /ws/not_called { asgi_app asgi_ws:not_called; }
--- request
GET /ws/not_called
--- more_headers
Upgrade: websocket
Connection: Upgrade, close
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_body
400 Bad Request: invalid WebSocket handshake
--- error_log eval
qr/\[info\] .*client sent an invalid WebSocket handshake: websocket handshake without Sec-WebSocket-Key, client: 127\.0\.0\.1/
--- no_error_log
asgi_ws: not_called was called
[error]
[alert]



=== TEST 16: a handshake with POST: 400; the app is not called
--- config
    location /ws/not_called { asgi_app asgi_ws:not_called; }
--- request
POST /ws/not_called
--- more_headers
Upgrade: websocket
Connection: Upgrade, close
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_body
400 Bad Request: invalid WebSocket handshake
--- error_log eval
qr/\[info\] .*client sent an invalid WebSocket handshake: websocket handshake with a method other than GET, client: 127\.0\.0\.1/
--- no_error_log
asgi_ws: not_called was called
[error]
[alert]



=== TEST 17: an unmasked frame: Close 1002, the connection closes, and the app's disconnect has 1002
--- config
    location /drive { wsgi_app asgi_ws:drive_broken; }
    location /ws/recorder { asgi_app asgi_ws:recorder; }
--- request
GET /drive?/ws/recorder?unmasked
--- response_body
an unmasked frame: the server answered close 1002 '', then closed the connection: yes
  the app received: text 'before', disconnect 1002 ''
--- error_log eval
qr/\[info\] .*the WebSocket client broke the protocol: websocket client frame is not masked; closing with 1002, client: 127\.0\.0\.1/



=== TEST 18: a text that is not UTF-8 (in one frame, or ending inside a character over two): Close 1007, and the app's disconnect has 1007
--- config
    location /drive { wsgi_app asgi_ws:drive_broken; }
    location /ws/recorder { asgi_app asgi_ws:recorder; }
--- request
GET /drive?/ws/recorder?utf8,utf8_fragments
--- response_body
a text that is not UTF-8: the server answered close 1007 '', then closed the connection: yes
  the app received: text 'before', disconnect 1007 ''
a text that ends inside a character, over 2 fragments: the server answered close 1007 '', then closed the connection: yes
  the app received: text 'before', disconnect 1007 ''
--- error_log eval
qr/\[info\] .*the WebSocket client broke the protocol: websocket text message is not UTF-8 after byte 3; closing with 1007, client: 127\.0\.0\.1/



=== TEST 19: asgi_websocket_max_message_size 1k: a message of 2 KiB (in one frame, or in fragments): Close 1009, and the app's disconnect has 1009
--- config
    location /drive { wsgi_app asgi_ws:drive_broken; }
    location /ws/recorder { asgi_websocket_max_message_size 1k; asgi_app asgi_ws:recorder; }
--- request
GET /drive?/ws/recorder?too_big,too_big_fragments
--- response_body
a binary of 2 KiB: the server answered close 1009 '', then closed the connection: yes
  the app received: text 'before', disconnect 1009 ''
3 fragments of 512 bytes: the server answered close 1009 '', then closed the connection: yes
  the app received: text 'before', disconnect 1009 ''
--- error_log eval
[qr/\[info\] .*the WebSocket client broke the protocol: websocket message of 2048 bytes or more is over the limit of 1024; closing with 1009/,
 qr/\[info\] .*the WebSocket client broke the protocol: websocket message of 1536 bytes or more is over the limit of 1024; closing with 1009/]



=== TEST 20: the other ways to break the protocol: RSV bits, a reserved opcode, control frames fragmented or too long, continuations of nothing, interleaved messages, bad Close payloads
--- config
    location /drive { wsgi_app asgi_ws:drive_broken; }
    location /ws/recorder { asgi_app asgi_ws:recorder; }
--- request
GET /drive?/ws/recorder?rsv1,opcode,fragmented_ping,long_ping,continuation,interleaved,close_1_byte,close_1005,close_reason
--- response_body
a frame with RSV1: the server answered close 1002 '', then closed the connection: yes
  the app received: text 'before', disconnect 1002 ''
a frame of opcode 3: the server answered close 1002 '', then closed the connection: yes
  the app received: text 'before', disconnect 1002 ''
a ping without FIN: the server answered close 1002 '', then closed the connection: yes
  the app received: text 'before', disconnect 1002 ''
a ping of 126 bytes: the server answered close 1002 '', then closed the connection: yes
  the app received: text 'before', disconnect 1002 ''
a continuation of nothing: the server answered close 1002 '', then closed the connection: yes
  the app received: text 'before', disconnect 1002 ''
a text inside a fragmented text: the server answered close 1002 '', then closed the connection: yes
  the app received: text 'before', disconnect 1002 ''
a close of 1 byte: the server answered close 1002 '', then closed the connection: yes
  the app received: text 'before', disconnect 1002 ''
a close with the code 1005: the server answered close 1002 '', then closed the connection: yes
  the app received: text 'before', disconnect 1002 ''
a close whose reason is not UTF-8: the server answered close 1007 '', then closed the connection: yes
  the app received: text 'before', disconnect 1007 ''



=== TEST 21: a client that vanishes without a Close: the app's receive() gives 1006, and its next send() raises ClientDisconnected, an OSError
--- config
    location /drive { wsgi_app asgi_ws:drive_vanish; }
    location /ws/vanish { asgi_app asgi_ws:vanish; }
--- request
GET /drive
--- response_body
received: text 'hello'; then the client closed its socket
the app: receive() gave disconnect 1006 ''
the app: send() then raised ClientDisconnected, an OSError: True



=== TEST 22: backpressure to the client: an app sending 128 MiB to a client that stops reading waits in send(); then the client reads it all, whole and in order
--- config
    location /drive { wsgi_app asgi_ws:drive_slow_reader; }
    location /ws/stream { asgi_app asgi_ws:stream; }
--- request
GET /drive
--- response_body
paused: yes (well under 32 MiB ahead of the client)
then: text 'done'
the client read 2048 messages, whole and in order: yes
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes
the app: disconnect 1000 ''



=== TEST 23: backpressure from the client: nginx stops reading for an app that does not receive (the client's sends block); once the app receives, it has every message in order, and the client can finish
--- config
    location /drive { wsgi_app asgi_ws:drive_slow_app; }
    location /ws/lazy { asgi_app asgi_ws:lazy; }
--- request
GET /drive
--- response_body
the client's sends blocked: yes (before 64 MiB)
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes
the app: all the messages, in order
the app: disconnect 1000 ''



=== TEST 24: frames sent before the client read the 101 are delivered: with the handshake, and after it while the app has not accepted yet
--- config
    location /drive { wsgi_app asgi_ws:drive_early; }
    location /ws/echo { asgi_app asgi_ws:echo; }
    location /ws/slow_accept { asgi_app asgi_ws:slow_accept; }
--- request
GET /drive
--- response_body
with the handshake: text 'sent with the handshake'
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes
after the handshake, once the app had started: 101, then text 'sent before the accept'
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes



=== TEST 25: 100 WebSockets open at once, each echoing 5 messages, all succeed
--- config
    location /drive { wsgi_app asgi_ws:drive_many; }
    location /ws/echo { asgi_app asgi_ws:echo; }
--- request
GET /drive
--- response_body
100 WebSockets open at once, 5 messages each echoed in order, then closed: yes



=== TEST 26: wsgi_app and asgi_app side by side: WSGI requests while a WebSocket is open; a WebSocket handshake to the wsgi_app location is a plain request there
--- config
    location /drive { wsgi_app asgi_ws:drive_side_by_side; }
    location /wsgi { wsgi_app streaming:hello; }
    location /ws/echo { asgi_app asgi_ws:echo; }
--- request
GET /drive
--- response_body
GET /wsgi: HTTP/1.1 200 OK, b'hello, world\n'
WebSocket: text 'one'
GET /wsgi meanwhile: HTTP/1.1 200 OK, b'hello, world\n'
a WebSocket handshake to /wsgi: HTTP/1.1 200 OK, b'hello, world\n'
WebSocket again: text 'two'
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes



=== TEST 27: wsgi_request_timeout does not apply to a WebSocket: idle for longer, it still echoes
--- config
    location /drive { wsgi_app asgi_ws:drive_idle; }
    location /ws/echo { wsgi_request_timeout 200ms; asgi_app asgi_ws:echo; }
--- request
GET /drive?/ws/echo
--- response_body
first: text 'first'
then: text 'after 1 s idle'
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes
--- no_error_log
wsgi_request_timeout
[error]
[alert]



=== TEST 28: asgi_websocket_timeout 1s: a client that stays silent gets a Ping at half of it; with no Pong, Close 1011 and the connection closes; the app's disconnect has 1011
--- config
    location /drive { wsgi_app asgi_ws:drive_silent; }
    location /ws/recorder { asgi_websocket_timeout 1s; asgi_app asgi_ws:recorder; }
--- request
GET /drive
--- response_body
received: ping b'', close 1011 'keepalive ping timeout'
then the server closed the connection: yes
the app received: text 'hi'
the app received: disconnect 1011 'keepalive ping timeout'
--- error_log
the WebSocket client sent nothing for 1000 ms, not even a Pong (asgi_websocket_timeout): closing with 1011



=== TEST 29: asgi_websocket_timeout 500ms: a client that answers the Pings stays connected however long it is otherwise silent
--- config
    location /drive { wsgi_app asgi_ws:drive_pong; }
    location /ws/echo { asgi_websocket_timeout 500ms; asgi_app asgi_ws:echo; }
--- request
GET /drive
--- response_body
Pings from the server in 3 s: at least 3
then: text 'still here'
our Close 1000: answered with close 1000 ''
then the server closed the connection: yes
--- no_error_log
asgi_websocket_timeout
[error]



=== TEST 30: a reload: the old worker closes its WebSockets with 1001 (going away) and waits for the client's answer; the request that drove it is still answered
--- config
    location /drive { wsgi_app asgi_ws:drive_reload; }
    location /ws/recorder { asgi_app asgi_ws:recorder; }
--- request
GET /drive
--- response_body
after the reload: close 1001 'the server is going away'
our Close in answer; then the server closed the connection: yes
the app received: text 'hi'
the app received: disconnect 1001 ''



=== TEST 31: an app that never receives nor sends again after its client left: its task is cancelled after 5 s, so that it holds neither the connection nor a quitting worker
--- config
    location /drive { wsgi_app asgi_ws:drive_deaf; }
    location /ws/deaf { asgi_app asgi_ws:deaf; }
--- request
GET /drive
--- response_body
the client closed its socket
the app: accepted
the app: cancelled
--- error_log
its application went on for 5 s without ending: its task is cancelled
the WebSocket client left, and the application ended with CancelledError
