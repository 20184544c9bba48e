"""ament_python package for jepa_ros (pip install -e . works too)."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'jepa_ros'

# Each architecture module of the paper is one node executable.
NODES = ['perception', 'world_model', 'actor', 'configurator', 'memory', 'sim_bridge']


def tree(src, dst_root):
    """data_files entries for every file below `src`, keeping the folder layout."""
    out = {}
    for path in glob(os.path.join(src, '**', '*'), recursive=True):
        if os.path.isfile(path):
            dst = os.path.join(dst_root, os.path.dirname(path))
            out.setdefault(dst, []).append(path)
    return list(out.items())


share = os.path.join('share', PACKAGE)
setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=['jepa_ros', 'jepa_ros.*']),
    package_data={'jepa_ros': ['py.typed']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        (share, ['package.xml']),
        (os.path.join(share, 'launch'), glob('launch/*.launch.py')),
        (os.path.join(share, 'config'), glob('config/*.yaml')),
        (os.path.join(share, 'models'), glob('models/*.pt')),
    ] + tree('sim', share),
    # Dependencies are declared in package.xml (rosdep) and requirements.txt/.lock (pip).
    install_requires=['setuptools'],
    extras_require={
        'test': ['pytest', 'pytest-timeout', 'hypothesis', 'packaging'],
    },
    zip_safe=True,
    maintainer='jepa_ros developers',
    maintainer_email='dev@jepa-ros.invalid',
    description='JEPA world model, latent-space planning and the rest of the '
                'autonomous-intelligence architecture as ROS 2 nodes.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'jepa-ros = jepa_ros.cli:main',
            # the learner process of launch/*.launch.py learn:=true (`jepa-ros learn`)
            'learner = jepa_ros.tools.learn:main',
        ] + [f'{n} = jepa_ros.nodes.{n}:main' for n in NODES],
    },
)
