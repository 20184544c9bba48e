"""`jepa-ros bringup`: run the whole graph of config/stack.yaml (sim included).

Single process (default; a MultiThreadedExecutor with a callback group per job, so
planning never blocks the actor) or --multiprocess (one process per node, same
description). Ctrl-C / SIGTERM stops everything; the actor is stopped first.
"""
import signal
import time


def add_arguments(parser):
    parser.add_argument('--world', default='two_rooms', help='world (stack.yaml `worlds`)')
    parser.add_argument('--multiprocess', action='store_true',
                        help='every node in its own process')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='stop after this many seconds (0: run until Ctrl-C)')
    parser.add_argument('--robot', action='store_true',
                        help='robot target: no simulator (camera from the robot)')
    parser.add_argument('--skip', action='append', default=[], metavar='NODE',
                        help='do not start NODE (repeatable)')
    parser.add_argument('--only', action='append', default=None, metavar='NODE',
                        help='start only NODE (repeatable)')
    parser.add_argument('--overrides', default=None, metavar='JSON',
                        help='parameters over the YAML files: {"node": {"param": value}}')
    parser.add_argument('--log-dir', default=None,
                        help='with --multiprocess: write one log file per node here')


def parse_overrides(text):
    """--overrides JSON -> {node: {param: value}}; ValueError with the reason otherwise."""
    import json
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f'--overrides is not JSON: {exc}') from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError('--overrides must be {"node": {"param": value, ...}, ...}')
    return value


def run(args):
    from jepa_ros.nodes.graph import start_graph
    if args.duration < 0:
        raise ValueError('--duration must be >= 0')
    overrides = parse_overrides(args.overrides)
    stopping = {'flag': False}

    def on_signal(signum, frame):
        stopping['flag'] = True

    old = signal.signal(signal.SIGTERM, on_signal)
    graph = start_graph(args.world, multiprocess=args.multiprocess,
                        target='robot' if args.robot else 'sim', skip=args.skip,
                        only=args.only, overrides=overrides, log_dir=args.log_dir)
    names = sorted(getattr(graph, 'nodes', None) or getattr(graph, 'procs', {}))
    print(f'bringup: {"multi" if args.multiprocess else "single"}-process graph up: '
          f'{", ".join(names)}', flush=True)
    if not args.multiprocess:
        failed = [n for n, ok in graph.active.items() if not ok]
        if failed:
            print(f'bringup: lifecycle nodes not active (see their log): {failed}', flush=True)
    end = time.monotonic() + args.duration if args.duration else None
    rc = 0
    try:
        while not stopping['flag'] and (end is None or time.monotonic() < end):
            if not graph.alive():
                dead = graph.dead() if hasattr(graph, 'dead') else {}
                print(f'bringup: graph died {dead}', flush=True)
                rc = 1
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        graph.stop()
        signal.signal(signal.SIGTERM, old)
        print('bringup: stopped', flush=True)
    return rc
