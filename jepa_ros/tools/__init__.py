"""Command-line jobs behind `jepa-ros` (one module per subcommand: collect, train, eval,
bringup, demo, bench, params, ...): argument parsing, progress and reports around
jepa_ros.core / sim / data.

May import anything in jepa_ros; tools that drive the ROS graph use jepa_ros.nodes.graph
(start the nodes), jepa_ros.nodes.stack_client (talk to them) and the nodes' PARAMS
(their declared parameters), never the inside of a node.
"""
