"""Write one named section of docs/BENCHMARKS.md without touching the others.

Each benchmark owns the text between `<!-- BEGIN name -->` and `<!-- END name -->`,
so benchmarks can be re-run one at a time and the file stays one readable page.
"""
import datetime
import os
import platform
import re

import jepa_ros
from jepa_ros.share import source_root

# docs/ is not installed: the checkout's, or one in the working directory.
ROOT = source_root() or os.getcwd()
BENCH_FILE = os.path.join(ROOT, 'docs', 'BENCHMARKS.md')
HEADER = ('# Benchmarks\n\n'
          'Every section below was written by the command shown in it; re-run that command '
          'to refresh it. `make bench` runs them all. CPU figures are from the 2-core '
          'development machine unless a section says otherwise.\n')


def machine_line():
    try:
        import torch
        torch_v = torch.__version__
        dev = 'cuda:' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'
    except Exception:  # torch missing is fine for sim-only sections
        torch_v, dev = 'n/a', 'cpu'
    return (f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
            f'python {platform.python_version()}, torch {torch_v}, device {dev}, '
            f'jepa_ros {jepa_ros.__version__}, {datetime.date.today().isoformat()}')


def write_section(name, title, command, body, path=BENCH_FILE):
    """Replace (or append) the section `name`; `body` is markdown."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = open(path).read() if os.path.exists(path) else HEADER
    block = (f'<!-- BEGIN {name} -->\n## {title}\n\n'
             f'Command: `{command}`  \nMachine: {machine_line()}\n\n{body.rstrip()}\n'
             f'<!-- END {name} -->')
    pattern = re.compile(rf'<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->',
                         re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + '\n\n' + block + '\n'
    with open(path, 'w') as f:
        f.write(text)
    return path


def md_table(headers, rows):
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
    lines += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(lines)
