"""`python -m sfemulator serve ...`: flags, environment variables, start-up and shutdown."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from sfemulator.app import Emulator
from sfemulator.certs import CA_FILE, ensure_certificates
from sfemulator.config import DEFAULT_API_LIMIT, DEFAULT_TOKEN_TTL, Config, StreamSettings
from sfemulator.faults import FaultPlan
from sfemulator.seed import SEEDS
from sfemulator.server import make_server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sfemulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the HTTPS Salesforce emulator",
        epilog="The fault flags set the initial fault plan. The write-call faults "
        "(late_commit_next, apply_late_next, lose_answer_next) and the other counters are "
        "set at run time with PUT /__emulator/faults (needs --fault-secret).",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    serve.add_argument(
        "--state",
        type=Path,
        default=Path("var/sfemulator/state.sqlite3"),
        help="SQLite state file, with OAuth tokens (created 0600)",
    )
    serve.add_argument(
        "--cert-dir", type=Path, default=Path("var/sfemulator"), help="where ca.pem is written"
    )
    serve.add_argument("--client-id", default=os.environ.get("SFEMU_CLIENT_ID"))
    serve.add_argument("--client-secret", default=os.environ.get("SFEMU_CLIENT_SECRET"))
    serve.add_argument("--seed", choices=SEEDS, default="none")
    serve.add_argument("--fault-secret", default=os.environ.get("SFEMU_FAULT_SECRET"))
    serve.add_argument("--token-ttl", type=int, default=DEFAULT_TOKEN_TTL, help="seconds")
    serve.add_argument("--api-limit", type=int, default=DEFAULT_API_LIMIT, help="calls a day")
    serve.add_argument("--latency-ms", type=int, default=0)
    serve.add_argument("--error-rate", type=float, default=0.0, help="share answered 503/500")
    serve.add_argument("--error-status", type=int, choices=(500, 503), default=503)
    serve.add_argument("--lock-rate", type=float, default=0.0, help="share of UNABLE_TO_LOCK_ROW")
    serve.add_argument("--fault-seed", type=int, default=None)
    serve.add_argument("--log-requests", action="store_true", help="access log on stderr")
    stream = StreamSettings()
    serve.add_argument(
        "--stream-timeout-ms",
        type=int,
        default=stream.timeout_ms,
        help="how long a Streaming API connect is held without events",
    )
    serve.add_argument(
        "--stream-max-events", type=int, default=stream.max_events, help="change events kept"
    )
    serve.add_argument(
        "--stream-overflow-threshold",
        type=int,
        default=stream.overflow_threshold,
        help="changes in one transaction before GAP_OVERFLOW",
    )
    return parser


def config_from(args: argparse.Namespace) -> Config:
    if not args.client_id or not args.client_secret:
        raise SystemExit(
            "sfemulator: --client-id and --client-secret (or SFEMU_CLIENT_ID and "
            "SFEMU_CLIENT_SECRET) are required"
        )
    plan = FaultPlan(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        error_status=args.error_status,
        lock_rate=args.lock_rate,
        seed=args.fault_seed,
    )
    stream = StreamSettings(
        timeout_ms=args.stream_timeout_ms,
        max_events=args.stream_max_events,
        overflow_threshold=args.stream_overflow_threshold,
    )
    try:
        plan.validate()
        stream.validate()
    except ValueError as error:
        raise SystemExit(f"sfemulator: {error}") from None
    return Config(
        state=args.state,
        cert_dir=args.cert_dir,
        client_id=args.client_id,
        client_secret=args.client_secret,
        host=args.host,
        port=args.port,
        seed=args.seed,
        fault_secret=args.fault_secret,
        token_ttl=args.token_ttl,
        api_limit=args.api_limit,
        faults=plan,
        log_requests=args.log_requests,
        stream=stream,
    )


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(config: Config) -> None:
    cert_path, key_path = ensure_certificates(config.cert_dir, config.host)
    emulator = Emulator(config)
    server = make_server(emulator, config.host, config.port, str(cert_path), str(key_path))
    # With --port 0 the OS picked the port; report the real one.
    config.port = server.server_address[1]
    signal.signal(signal.SIGTERM, _stop)
    shown_host = f"[{config.host}]" if ":" in config.host else config.host
    print(f"sfemulator CA certificate: {(config.cert_dir / CA_FILE).resolve()}", flush=True)
    print(f"sfemulator listening on https://{shown_host}:{config.port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        emulator.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        serve(config_from(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
