"""`jepa-ros`: one entry point, one subcommand per job.

Each subcommand lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their subcommand runs, so
`jepa-ros --help` stays fast and a broken optional dependency only breaks the
command that needs it.
"""
import argparse
import importlib
import sys

# (command words, module, one-line help)
COMMANDS = [
    (('sim',), 'jepa_ros.tools.sim_cmd', 'run a world headless and print frames/s'),
    (('collect',), 'jepa_ros.tools.collect', 'record reward-free exploration episodes as MCAP'),
    (('train', 'world-model'), 'jepa_ros.tools.train_world_model',
     'train the JEPA encoder + predictor (+ level 2) from MCAP episodes'),
    (('train', 'critic'), 'jepa_ros.tools.train_critic',
     'train the critic (cost-to-go) from MCAP episodes with hindsight goals'),
    (('train', 'actor'), 'jepa_ros.tools.train_actor',
     'train the Mode-1 actor to imitate Mode-2 plans'),
    (('eval', 'world-model'), 'jepa_ros.tools.eval_world_model',
     'probe R2, multi-step error, collapse and distance ranking of a checkpoint'),
    (('eval', 'planning'), 'jepa_ros.tools.eval_planning',
     'success rate and plan time of a planner on seeded start/goal pairs'),
    (('bringup',), 'jepa_ros.tools.bringup', 'run the whole ROS 2 graph (sim included)'),
    (('learn',), 'jepa_ros.tools.learn',
     'keep learning from the memory\'s recordings and swap validated models in'),
    (('demo',), 'jepa_ros.tools.demo', 'reach a series of goal images and write a report'),
    (('bench',), 'jepa_ros.tools.bench', 'run the benchmarks into docs/BENCHMARKS.md'),
    (('params',), 'jepa_ros.tools.params_doc', 'print the parameter reference of every node'),
    (('export',), 'jepa_ros.tools.export',
     'export the robot\'s networks (ONNX or TorchScript) + export.json for the backends'),
]


def build_parser():
    parser = argparse.ArgumentParser(
        prog='jepa-ros', description='JEPA world model + latent planning as a ROS 2 stack.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    groups = {}
    for words, module, help_text in COMMANDS:
        if len(words) == 1:
            p = sub.add_parser(words[0], help=help_text, description=help_text)
        else:
            if words[0] not in groups:
                g = sub.add_parser(words[0], help=f'{words[0]} subcommands')
                groups[words[0]] = g.add_subparsers(dest='what', metavar='WHAT')
                groups[words[0]].required = True
            p = groups[words[0]].add_parser(words[1], help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # Arguments come from the module itself; only imported for the chosen command
        # (argparse needs them before parsing, so we import lazily per chosen words).
        p.set_defaults(_words=words)
    return parser


def _chosen_words(argv):
    for words, module, _ in COMMANDS:
        if list(argv[:len(words)]) == list(words):
            return words, module
    return None, None


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    words, module_name = _chosen_words(argv)
    parser = build_parser()
    if module_name is None:
        parser.parse_args(argv)  # prints usage / help and exits
        return 2
    module = importlib.import_module(module_name)
    # Rebuild the parser for just this command with its real arguments.
    sub_parser = argparse.ArgumentParser(
        prog='jepa-ros ' + ' '.join(words),
        description=next(h for w, m, h in COMMANDS if w == words))
    module.add_arguments(sub_parser)
    args = sub_parser.parse_args(argv[len(words):])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
            PermissionError) as exc:
        # Bad arguments and missing files are user errors: say what, no traceback.
        print(f'jepa-ros {" ".join(words)}: error: {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
