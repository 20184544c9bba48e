"""What each node starts with: parameter files, world overrides, the user's params_file,
and the configurator's values seeded into the nodes it owns (no ROS graph needed)."""
import pytest

from jepa_ros.nodes import configurator, graph


@pytest.fixture(scope='module')
def stack():
    return graph.load_stack()


def test_an_unknown_world_is_an_error_naming_the_known_ones(stack):
    with pytest.raises(ValueError, match=r"unknown world 'two_room'.*reach.*two_rooms"):
        graph.world_overrides(stack, 'two_room')
    with pytest.raises(ValueError, match='unknown world'):
        graph.start_graph('two_room')


def test_user_params_file_sections_and_nesting(tmp_path):
    f = tmp_path / 'mine.yaml'
    f.write_text('/**:\n  ros__parameters: {use_sim_time: false, budget_s: 0.2}\n'
                 'world_model:\n  ros__parameters:\n    checkpoint: my.pt\n'
                 '    gd: {iterations: 3}\n'
                 '/actor:\n  ros__parameters: {max_linear_speed: 0.8}\n')
    assert graph.user_params(str(f), 'world_model') == {
        'use_sim_time': False, 'budget_s': 0.2, 'checkpoint': 'my.pt', 'gd.iterations': 3}
    assert graph.user_params(str(f), 'actor') == {
        'use_sim_time': False, 'budget_s': 0.2, 'max_linear_speed': 0.8}
    assert graph.user_params(str(f), 'memory') == {'use_sim_time': False, 'budget_s': 0.2}


def test_user_params_file_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match='params_file'):
        graph.user_params(str(tmp_path / 'missing.yaml'), 'actor')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('actor: {max_linear_speed: 0.8}\n')
    with pytest.raises(ValueError, match='ros__parameters'):
        graph.user_params(str(bad), 'actor')


def test_owned_nodes_start_from_the_configurators_values(stack):
    specs = graph.select_nodes(stack, 'sim')
    seeded = graph.seed_owned(stack, 'two_rooms', specs,
                              {'configurator': {'cost.critic.weight': 0.0, 'mode': 'mode1'},
                               'world_model': {'planner': 'cem', 'gd.iterations': 3}})
    wm, actor = seeded['world_model'], seeded['actor']
    # The owner's value wins (it would put it back anyway); other keys are left alone.
    assert wm['cost.critic.weight'] == 0.0 and wm['planning'] is False
    assert wm['planner'] == graph.node_params('configurator', 'two_rooms', stack).get(
        'planner', next(s.default for s in configurator.PARAMS if s.name == 'planner'))
    assert wm['gd.iterations'] == 3
    assert actor == {'mode': 'mode1'}
    # Without a configurator nothing is seeded.
    no_owner = [s for s in specs if s['name'] != 'configurator']
    assert graph.seed_owned(stack, 'two_rooms', no_owner, {'world_model': {'planner': 'cem'}}) \
        == {'world_model': {'planner': 'cem'}}
