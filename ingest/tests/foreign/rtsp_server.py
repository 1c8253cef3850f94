#!/usr/bin/python3
"""A camera nobody here wrote: gst-rtsp-server driven from Python (python3-gi,
gir1.2-gst-rtsp-server-1.0), for the ingest's tests against a foreign RTSP server.

    /usr/bin/python3 rtsp_server.py --codec h265 --key-int 25

serves rtsp://127.0.0.1:PORT/cam: a live test pattern encoded by x264 or x265 as
configured (x265 keeps its default open GOP: keyframes after the first are CRA
pictures), one shared pipeline for every client as a camera has, over UDP and TCP.
With --audio pcma it also carries G.711 A-law sound (what most cameras here send),
listed first in the SDP as some cameras list it, so the client must pick the video.
With --user and --password it asks for HTTP Digest authentication (only Digest, as
many cameras are configured), and refuses clients without those credentials.
It prints "READY <port>" once listening and runs until its standard input closes.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def launch(args):
    source = (
        f"videotestsrc is-live=true pattern={args.pattern} "
        f"! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 "
        "! videoconvert "
    )
    # gst-rtsp-server lists the streams in the order of their payloaders' names.
    video_pay = "pay1" if args.audio == "pcma" else "pay0"
    if args.codec == "h264":
        encoder = (
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.key_int} "
            f"bitrate={args.bitrate} threads=1 "
            f"! rtph264pay name={video_pay} pt=96 config-interval=-1"
        )
    else:
        # tune=zerolatency: no B-frames (as cameras send), but still x265's open GOP.
        encoder = (
            f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={args.key_int} "
            f"bitrate={args.bitrate} "
            f"! rtph265pay name={video_pay} pt=96 config-interval=-1"
        )
    audio = ""
    if args.audio == "pcma":
        audio = (
            "audiotestsrc is-live=true wave=sine "
            "! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay0 pt=8 "
        )
    return f"( {source}! {encoder} {audio})"


def require_digest(server, factory, user, password):
    """Only `user` with `password`, by Digest, may describe and play the stream."""
    role = "camera-user"
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
    auth = GstRtspServer.RTSPAuth()
    auth.add_digest(user, password, token)
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    for permission in (
        GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS,
        GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
    ):
        permissions.add_permission_for_role(role, permission, True)
    factory.set_permissions(permissions)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", choices=["h264", "h265"], default="h264")
    parser.add_argument("--key-int", type=int, default=25)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--bitrate", type=int, default=400, help="kbit/s")
    parser.add_argument(
        "--pattern", default="ball", help="videotestsrc pattern (snow: large frames)"
    )
    parser.add_argument(
        "--audio", choices=["none", "pcma"], default="none", help="a sound track too"
    )
    parser.add_argument("--user", help="ask for Digest authentication as this user")
    parser.add_argument("--password", default="", help="the --user's password")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch(args))
    factory.set_shared(True)
    if args.user:
        require_digest(server, factory, args.user, args.password)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit("could not listen")

    loop = GLib.MainLoop()
    # The test holds our standard input: when it closes (the test ended or died), so do we.
    GLib.io_add_watch(
        GLib.IOChannel.unix_new(sys.stdin.fileno()),
        GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR,
        lambda *_: (sys.stdin.buffer.read1(4096) and True) or loop.quit() or False,
    )
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
