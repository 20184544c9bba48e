"""World model + Mode-2 planner as a ROS node (the paper's "world model" and "actor
as optimiser" together): plans in latent space from jepa/state to jepa/goal_state.

Subscribes jepa/state (LatentState) and jepa/goal_state (latched); at `plan_rate` runs the
configured planner within `budget_s` in its own callback group (so it never blocks other
callbacks of a multi-threaded executor) and publishes jepa/plan (Plan, stamped with the
stamp of the state it planned from). With the hierarchical planner it also publishes the
level-2 subgoal on jepa/subgoal (LatentState, level 2): the level-2 latent the coarse plan
reaches when the fine horizon ends, i.e. the target level 1 planned towards (from
PlanResult.info['subgoal'] when the planner reports it, else from the level-2 plan of the
same call). Planner, horizon, budget and cost weights are parameters that apply to the next
plan when changed. With `critic_checkpoint` the trainable critic (jepa_ros.core.critic) is
the `critic` cost term on the last predicted latent, weighted by `cost.critic.weight`.

Surprise (jepa_ros.core.surprise): each new state is compared with the one-step prediction
of the newest plan made from the state one `step_dt` before it, i.e. with what the model
predicted from the previous state and the plan's first action. The node does not see the
command the actor actually sent (limits, Mode-1 fall-back), so the plan's first action
stands for the executed one; in Mode-1 (`planning` false) there are no plans and no
surprise. The prediction energy (latent MSE, as the goal term) goes out on jepa/surprise
(std_msgs/Float32, one per scored state: a plain number rqt_plot and `ros2 topic echo`
show, published as the state arrives); an energy more than `surprise.threshold` spreads
above the running baseline starts an event, published on jepa/surprise_event
(std_msgs/String, JSON with the state's stamp and the figures, which the memory node uses
to save an episode around it). /diagnostics carries surprise, baseline, spread and counts.

Model versions: states and goals of another model version than the node's are dropped
(counted, /diagnostics `dropped_version_state|goal`); plans and subgoals carry the
version of the model that made them. Hot swap (lifecycle_util): a candidate world model
(and critic, or the running one kept) is loaded, checked (same action dim, mode and image
size as the running model, critic latent size = the model's, finite encoder, predictor
and critic outputs on a probe, planner and cost built and warmed up) into the staging
slot; on commit planner, cost, model and critic are replaced between two plans, and the
state, goal, warm start and surprise history of the old version are dropped (the goal
comes back from perception, re-encoded in the new version).
"""
import collections
import json
import math
import threading
import time

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

from jepa_ros.core.backends import check_planner_backend
from jepa_ros.core.cost import IntrinsicCost
from jepa_ros.core.critic import load_frozen_critic
from jepa_ros.core.planners import flat_planner_names, make_planner, planner_kwargs, planning_params
from jepa_ros.core.surprise import PredictionHistory, SurpriseDetector, prediction_energy
from jepa_ros.nodes.backend import backend_params, load_node_backend
from jepa_ros.nodes.diagnostics import RateMeter
from jepa_ros.nodes.lifecycle_util import (ModelLifecycleNode, check_finite, check_same_robot,
                                           checkpoint_param, load_world_model, probe_image,
                                           resolve_path, robot_of, run_lifecycle_node)
from jepa_ros.nodes.messages import stamp_to_sec
from jepa_ros.nodes.ownership import OWNED_KEYS
from jepa_ros.nodes.parameters import ParamSpec
from jepa_ros.nodes.qos import LATCHED_QOS

PLANNER_CHOICES = flat_planner_names()


def planning_param_specs():
    """Node parameters of the planners and the cost, derived from their declarations
    (jepa_ros.core.planners / jepa_ros.core.cost): `planner`, horizon, seed, samples,
    iterations, `<planner>.<param>`, `cost.terms`, `cost.<term>.weight`, ..."""
    return [ParamSpec.of(p) for p in planning_params()]


# Parameters that rebuild the planner (checked by building one before a set is accepted).
PLANNER_KEYS = frozenset(p.name for p in planning_params() if not p.name.startswith('cost.'))

PARAMS = [
    checkpoint_param(),
    ParamSpec('critic_checkpoint', '', 'trainable critic checkpoint (kind critic) '
              'for the terminal cost term ("" = no critic; cost.critic.weight must '
              'then stay 0); relative paths as for checkpoint', read_only=True),
    ParamSpec('device', 'cpu', 'torch device', choices=['cpu', 'cuda'],
              read_only=True),
    *backend_params('the predictor rollouts and the critic (sampling planners only: '
                    'mppi, cem, random, hierarchical over them; gd needs torch)'),
    *planning_param_specs(),
    ParamSpec('plan_rate', 10.0, 're-planning rate (Hz); between new states a re-plan '
              'continues the optimisation from the same state', min=0.2, max=100.0),
    ParamSpec('plan_on_state', True, 'also plan as soon as a new latent state '
              'arrives (a plan does not wait for the next plan_rate tick)'),
    ParamSpec('step_dt', 0.1, 'duration of one model step (s): the warm start is the '
              'previous plan shifted by the time between the states they start from',
              min=0.001, max=10.0),
    ParamSpec('budget_s', 0.05, 'time budget of one plan (s); planners stop '
              'iterating when it runs out', min=0.001, max=10.0),
    ParamSpec('warm_start', True, 'start each plan from the previous one, shifted'),
    ParamSpec('planning', True, 'false pauses Mode-2 planning (the configurator sets it '
              'in Mode-1, which needs no plans, so the reactive path gets the CPU)'),
    ParamSpec('state_timeout', 0.5, 'do not plan from a state older than this (s)',
              min=0.01, max=60.0),
    ParamSpec('torch_threads', 1, 'torch intra-op threads of this node', min=1,
              max=64, read_only=True),
    ParamSpec('surprise.threshold', 25.0, 'a surprise event starts when the prediction '
              'energy exceeds the running baseline (median) by this many spreads '
              '(1.4826 x median absolute deviation; model errors are heavy-tailed: on the '
              'shipped two_rooms model normal motion stays below 25, a 0.3 m teleport '
              'scores 40-70)', min=0.5, max=1000.0),
    ParamSpec('surprise.min_samples', 20, 'scored states in the baseline window before '
              'any event', min=2, max=100000),
    ParamSpec('surprise.window', 200, 'scored states the running baseline is computed '
              'from (at least surprise.min_samples)', min=2, max=100000),
    ParamSpec('autostart', True, 'configure and activate on start (own process)',
              read_only=True),
]


class WorldModelNode(ModelLifecycleNode):
    MODEL_ATTRS = ('model', 'planner', 'critic')
    CONFIGURED_ENTITIES = ('plan_pub', 'subgoal_pub', 'surprise_pub', 'surprise_event_pub')
    ACTIVE_ENTITIES = ('subs', 'plan_timer', 'plan_trigger')

    def __init__(self, model=None, critic=None, **kwargs):
        """model / critic may be handed in (bringup, tests) instead of the checkpoints."""
        # Planner, horizon, budget, cost weights and `planning` are the configurator's
        # (OWNED_KEYS): it sets them here; `ros2 param set` of them is refused while it is up.
        super().__init__('world_model', PARAMS, given={'model': model, 'critic': critic},
                         on_check=self._check_params, on_applied=self._apply_params,
                         owned=OWNED_KEYS['world_model'], **kwargs)
        self._upper_result = None             # level-2 PlanResult of the last hierarchical plan
        self.lock = threading.Lock()          # planner/cost vs parameter changes
        self.plan_group = MutuallyExclusiveCallbackGroup()
        self.io_group = MutuallyExclusiveCallbackGroup()
        self.state = self.goal = None         # (header, torch (D,), model version)
        self.state_rx = None                  # monotonic receive time of the state
        self.planner = self.cost = None
        self.rebuild = True
        self.param_changes = 0                # counts applied sets (a staged planner is stale
        #                                       when one came after it was built)
        self.previous = None                  # last plan actions for warm start
        self.previous_stamp = None            # stamp (s) of the state it started from
        # States planned from, the novelty (curiosity) term's memory of what was seen.
        self.visited = collections.deque(maxlen=int(self.p['cost.novelty.memory']))
        self.visited_lock = threading.Lock()
        self.plan_trigger = None              # guard condition: a new state arrived
        self.plan_timer = None
        self.subs = []
        self.plan_pub = self.subgoal_pub = None
        self.stats = {'plans': 0, 'deadline_misses': 0, 'consecutive_misses': 0,
                      'last_compute_ms': 0.0, 'last_cost': float('nan')}
        self.rate = RateMeter()
        # Surprise: one-step predictions of recent plans (written by the plan group, read
        # by the state callback, hence the lock) and the detector (state callback only).
        self.surprise_pub = self.surprise_event_pub = None
        self.surprise = SurpriseDetector(self.p['surprise.threshold'],
                                         self.p['surprise.min_samples'],
                                         self.p['surprise.window'])
        self.predictions = PredictionHistory()
        self.prediction_lock = threading.Lock()
        self.surprise_unscored = 0
        self._last_scored_stamp = None

    # ---- parameters -------------------------------------------------------------------
    def _check_params(self, changed):
        """Refuse (ValueError) a combination the planner or cost would not accept; changes
        nothing (the set may still be refused)."""
        trial = dict(self.p)
        trial.update(changed)
        if trial['surprise.min_samples'] > trial['surprise.window']:
            raise ValueError(f"surprise.min_samples ({trial['surprise.min_samples']}) must "
                             f"not exceed surprise.window ({trial['surprise.window']})")
        if set(changed) & PLANNER_KEYS:   # gd needs autograd: torch modules only
            check_planner_backend(trial, self._backend_in_use())
        if self.model is not None and set(changed) & PLANNER_KEYS:
            make_planner(trial['planner'], self.model, **planner_kwargs(trial))
        IntrinsicCost.from_params(trial, self.critic)  # ValueError on a bad combination

    def _apply_params(self, changed):
        """After a set (self.p holds the new values): the next plan rebuilds planner and
        cost; a new plan_rate gets a new timer."""
        with self.lock:
            self.rebuild = True
            self.param_changes += 1
            if 'horizon' in changed or 'planner' in changed:
                self.previous = self.previous_stamp = None
        if {'surprise.threshold', 'surprise.min_samples', 'surprise.window'} & set(changed):
            self.surprise.configure(self.p['surprise.threshold'],
                                    self.p['surprise.min_samples'], self.p['surprise.window'])
        if 'plan_rate' in changed and self.plan_timer is not None:
            self.destroy_timer(self.plan_timer)
            self.plan_timer = self.create_timer(1.0 / float(changed['plan_rate']),
                                                self._plan_tick,
                                                callback_group=self.plan_group)

    def _warm_up(self, planner=None, cost=None, model=None, rounds=3):
        """A few throw-away plans at configure (and for a staged candidate): torch's first
        calls are several times slower than the rest, and the configurator would count them
        as missed plan deadlines. Returns the last PlanResult."""
        import torch
        model = model or self.model
        zero = torch.zeros(int(model.config.latent_dim), device=model.device)
        res = None
        for _ in range(rounds):
            res = (planner or self.planner).plan(zero, zero, cost or self.cost,
                                                 warm_start=None,
                                                 budget_s=float(self.p['budget_s']))
        return res

    def _make_planning(self, model, critic, values=None):
        """(planner, cost) for `model` and `critic` under the settings `values` (self.p)."""
        values = self.p if values is None else values
        planner = make_planner(values['planner'], model, **planner_kwargs(values))
        cost = IntrinsicCost.from_params(values, critic)
        upper = getattr(planner, 'upper', None)
        if upper is not None:  # keep the level-2 result of each call: it holds the subgoal
            plan_batch = upper.plan_batch

            def capture(*args, **kwargs):
                res = plan_batch(*args, **kwargs)
                if self.planner is planner:   # not a staged candidate warming up
                    self._upper_result = res
                return res
            upper.plan_batch = capture
        return planner, cost

    def _build(self):
        self.planner, self.cost = self._make_planning(self.model, self.critic)
        self.rebuild = False

    # ---- lifecycle (ModelLifecycleNode hooks) -------------------------------------------
    def _backend_in_use(self):
        """The backend the planners' model runs on ('torch' for a handed-in model)."""
        return 'torch' if 'model' in self.given else self.p['backend']

    def load(self):
        check_planner_backend(self.p, self._backend_in_use())
        exported = None if 'model' in self.given else load_node_backend(
            self, ['predictor_step', 'rollout'],
            optional=['level2_encoder', 'level2_step', 'critic'])
        if exported is not None:
            self.model = exported.world_model
            self.critic = self.given.get('critic', exported.critic)
            if self.critic is None and 'critic' in self.p['cost.terms'] \
                    and float(self.p['cost.critic.weight']) > 0:
                raise ValueError('export_dir holds no critic network and cost.critic.weight '
                                 '> 0: export with --critic FILE, or set the weight to 0')
        else:
            self.model = self.part('model', 'checkpoint',
                                   lambda path: load_world_model(path, self.device)[0])
            self.critic = self.part('critic', 'critic_checkpoint',
                                    lambda path: load_frozen_critic(resolve_path(path),
                                                                    self.device),
                                    optional=True)
        self._check_critic(self.model, self.critic)
        self.robot = robot_of(self.model.config)
        with self.lock:
            self._build()
            self._warm_up()
        with self.prediction_lock:   # a new model: earlier energies are on another scale
            self.predictions.clear()
        self.surprise.reset()

    @staticmethod
    def _check_critic(model, critic):
        if critic is not None:
            d = int(model.config.latent_dim)
            cd = int(getattr(getattr(critic, 'config', None), 'latent_dim', d))
            if cd != d:
                raise ValueError(f'critic latent_dim {cd} != world model latent_dim {d}')

    # ---- hot swap (ModelLifecycleNode hooks) --------------------------------------------
    def prepare_candidate(self, path, request, version):
        """The candidate's model, critic (request.critic_checkpoint; '' keeps the running
        critic for the same model version, and is refused for another: the critic reads the
        model's latents), planner and cost, checked and warmed up; the running ones
        untouched."""
        import torch
        model, _ = load_world_model(path, self.device)
        check_same_robot(robot_of(model.config), self.robot)
        critic_path = str(request.critic_checkpoint)
        if critic_path:
            try:
                critic = load_frozen_critic(resolve_path(critic_path), self.device)
            except Exception as exc:
                raise ValueError(f'critic {critic_path!r}: {exc}') from None
        else:
            critic = self.critic
            if critic is not None and version != self.model_version:
                raise ValueError(f'the running critic reads the latents of '
                                 f'{self.model_version}, not of {version}: give '
                                 'critic_checkpoint')
        try:
            self._check_critic(model, critic)
        except ValueError as exc:
            raise ValueError(f'{exc}' + ('' if critic_path else
                                         ' (the running critic: give critic_checkpoint)'))
        with torch.no_grad():
            s = check_finite('the encoder', model.encode(probe_image(model.config.image_size)))
            a = torch.zeros(1, int(model.config.action_dim), device=s.device)
            check_finite('the predictor', model.predict(s, a))
            if model.level2 is not None:
                check_finite('the level-2 encoder', model.level2.encode(s))
            if critic is not None:
                check_finite('the critic', critic(s, s))
        with self.lock:
            changes = self.param_changes
            values = dict(self.p)
        planner, cost = self._make_planning(model, critic, values)
        res = self._warm_up(planner, cost, model)
        check_finite('a plan of the candidate', res.actions)
        return {'model': model, 'critic': critic, 'planner': planner, 'cost': cost,
                'param_changes': changes}

    def install_candidate(self, parts, version):
        with self.lock:   # between two plans (plan_once takes the planner under it)
            self.model, self.critic = parts['model'], parts['critic']
            self.planner, self.cost = parts['planner'], parts['cost']
            self.rebuild = self.param_changes != parts['param_changes']
            self.robot = robot_of(self.model.config)
            self.model_version = version
            # Latents of the old version mean nothing to the new model.
            self.state = self.goal = None
            self.previous = self.previous_stamp = None
            self._upper_result = None
        with self.visited_lock:
            self.visited.clear()
        with self.prediction_lock:
            self.predictions.clear()
            self._last_scored_stamp = None
        self.surprise.reset()

    def create_outputs(self):
        from std_msgs.msg import Float32, String

        from jepa_ros_interfaces.msg import LatentState, Plan
        self.plan_pub = self.create_lifecycle_publisher(Plan, 'jepa/plan', 10)
        self.subgoal_pub = self.create_lifecycle_publisher(LatentState, 'jepa/subgoal', 10)
        self.surprise_pub = self.create_lifecycle_publisher(Float32, 'jepa/surprise', 10)
        self.surprise_event_pub = self.create_lifecycle_publisher(
            String, 'jepa/surprise_event', 10)

    def start(self):
        from jepa_ros_interfaces.msg import LatentState
        self.subs = [
            self.create_subscription(LatentState, 'jepa/state', self._on_state, 10,
                                     callback_group=self.io_group),
            self.create_subscription(LatentState, 'jepa/goal_state', self._on_goal,
                                     LATCHED_QOS, callback_group=self.io_group),
        ]
        self.plan_timer = self.create_timer(1.0 / self.p['plan_rate'], self._plan_tick,
                                            callback_group=self.plan_group)
        # Plans run in plan_group only; a new state wakes it through this guard condition.
        self.plan_trigger = self.create_guard_condition(self._plan_tick,
                                                        callback_group=self.plan_group)

    # ---- data -------------------------------------------------------------------------
    def _latent(self, msg, kind):
        import torch
        d = int(self.model.config.latent_dim)
        if msg.level != 1 or len(msg.data) != d:
            self.log.warn(kind, f'ignoring {kind}: level {msg.level}, {len(msg.data)} values '
                                f'(want level 1, {d})')
            return None
        z = torch.tensor(msg.data, dtype=torch.float32, device=self.model.device)
        if not torch.isfinite(z).all():
            self.log.warn(kind, f'ignoring {kind} with non-finite values')
            return None
        return z

    def _on_state(self, msg):
        if self.model is None or not self.version_ok(msg, 'state'):
            return
        version = str(getattr(msg, 'model_version', ''))
        z = self._latent(msg, 'state')
        if z is not None:
            self.state = (msg.header, z, version)
            self.state_rx = time.monotonic()
            with self.visited_lock:
                self.visited.append(z)
            if self.p['plan_on_state'] and self.plan_trigger is not None:
                self.plan_trigger.trigger()
            try:
                self.score_surprise(msg.header, z)
            except Exception as exc:  # monitoring must never stop the state callback
                self.log.warn('surprise', f'surprise not scored: {exc!r}')

    # ---- surprise ---------------------------------------------------------------------
    def score_surprise(self, header, latent):
        """Compare a new state with the prediction made for it one step earlier; publish
        the energy and, at an event onset, the event. Returns the SurpriseSample or None
        (no prediction for this state: no plan from the state before it)."""
        stamp = stamp_to_sec(header.stamp)
        with self.prediction_lock:
            if stamp == self._last_scored_stamp:   # the same state again
                return None
            predicted = self.predictions.match(stamp, float(self.p['step_dt']))
            self._last_scored_stamp = stamp
        if predicted is None:
            self.surprise_unscored += 1
            self.diag.set('surprise_unscored', self.surprise_unscored)
            return None
        sample = self.surprise.update(prediction_energy(predicted, latent))
        self._publish_surprise(stamp, sample)
        return sample

    def _publish_surprise(self, stamp, sample):
        from std_msgs.msg import Float32, String

        def finite(x, digits=6):
            return round(float(x), digits) if math.isfinite(x) else None
        if self.surprise_pub is not None:
            self.surprise_pub.publish(Float32(data=float(sample.energy)))
        for key, value in (('surprise', sample.energy), ('surprise_baseline', sample.baseline),
                           ('surprise_spread', sample.spread), ('surprise_score', sample.score)):
            self.diag.set(key, finite(value))
        self.diag.set('surprise_samples', sample.samples)
        self.diag.set('surprise_events', sample.events)
        if not sample.onset:
            return
        event = {'stamp': stamp, 'energy': finite(sample.energy),
                 'baseline': finite(sample.baseline), 'spread': finite(sample.spread),
                 'score': finite(sample.score, 3), 'events': sample.events}
        self.get_logger().info(f'surprise event: {event}')
        if self.surprise_event_pub is not None:
            self.surprise_event_pub.publish(String(data=json.dumps(event)))

    def remembered(self, size):
        """The latest `size` states received, (N, D) (None when there are none)."""
        import torch
        with self.visited_lock:
            if self.visited.maxlen != size:
                self.visited = collections.deque(self.visited, maxlen=size)
            states = list(self.visited)
        return torch.stack(states) if states else None

    def _on_goal(self, msg):
        if self.model is None or not self.version_ok(msg, 'goal'):
            return
        version = str(getattr(msg, 'model_version', ''))
        z = self._latent(msg, 'goal')
        if z is not None:
            self.goal = (msg.header, z, version)
            self.previous = self.previous_stamp = None
            self.get_logger().info('new goal state')

    def plan_once(self):
        """One planning step; returns the PlanResult or None (no fresh state/goal)."""
        import torch
        if self.model is None or self.state is None or self.goal is None:
            return None
        if time.monotonic() - self.state_rx > self.p['state_timeout']:
            self.log.warn('stale', 'not planning: latent state is stale')
            return None
        state, goal = self.state, self.goal
        if state is None or goal is None:
            return None
        header, s, _ = state
        _, g, _ = goal
        with self.lock:
            version = self.model_version
            if state[2] != version or goal[2] != version:
                return None   # read just before a switch: latents of the old version
            if self.rebuild:
                self._build()
            self._upper_result = None
            planner, cost = self.planner, self.cost
            warm = None
            stamp = stamp_to_sec(header.stamp)
            if self.p['warm_start'] and self.previous is not None \
                    and self.previous.shape[0] == planner.horizon:
                from jepa_ros.core.planners import shift_plan
                # Shift by the model steps between the states the two plans start from:
                # 0 when re-planning from the same state (the optimisation continues).
                steps = round((stamp - self.previous_stamp) / float(self.p['step_dt']))
                if 0 <= steps < planner.horizon:
                    warm = shift_plan(self.previous, steps)
            budget = float(self.p['budget_s'])
            name = self.p['planner']
            if 'novelty' in cost.active():
                cost.set_visited(self.remembered(int(self.p['cost.novelty.memory'])))
        t0 = time.perf_counter()
        res = planner.plan(s, g, cost, warm_start=warm, budget_s=budget)
        compute_ms = (time.perf_counter() - t0) * 1e3
        actions = torch.nan_to_num(res.actions.detach(), nan=0.0).clamp(-1.0, 1.0)
        if version == self.model_version:   # else a switch came during this plan
            self.previous, self.previous_stamp = actions, stamp
            with self.prediction_lock:   # what the plan predicts for the next state
                self.predictions.add(stamp, res.latents[0].detach().cpu())
        res.info['cost_terms'] = cost.plan_breakdown(res.latents, actions, g)
        self._publish(header, name, actions, res, compute_ms, budget, version)
        if name == 'hierarchical' and self.subgoal_pub is not None:
            self._publish_subgoal(header, res, version)
        return res

    def _publish(self, header, name, actions, res, compute_ms, budget, version=None):
        from jepa_ros_interfaces.msg import Plan
        msg = Plan()
        msg.header = header
        msg.model_version = self.model_version if version is None else version
        msg.planner = name
        msg.horizon, msg.action_dim = int(actions.shape[0]), int(actions.shape[1])
        msg.actions = actions.reshape(-1).cpu().numpy().astype('float32').tolist()
        lat = res.latents.detach().reshape(-1).cpu().numpy().astype('float32')
        msg.predicted_latents = lat.tolist()
        c = float(res.info.get('cost', float('nan')))
        msg.cost = c if math.isfinite(c) else float('inf')
        msg.compute_ms = float(compute_ms)
        self.plan_pub.publish(msg)
        missed = compute_ms > 1e3 * budget * 1.5 or compute_ms > 1e3 / self.p['plan_rate']
        st = self.stats
        st['plans'] += 1
        st['deadline_misses'] += int(missed)
        st['consecutive_misses'] = st['consecutive_misses'] + 1 if missed else 0
        st['last_compute_ms'], st['last_cost'] = round(compute_ms, 2), round(c, 5)
        self.rate.tick()
        for k, v in st.items():
            self.diag.set(k, v)
        self.diag.set('plan_rate_hz', f'{self.rate.rate():.2f}')
        self.diag.set('planner', name)
        self.diag.set('horizon', msg.horizon)
        # Per-term cost of the published plan (the terms of Plan.cost), key cost.<term>;
        # terms no longer in use are dropped.
        for key in [k for k in self.diag.values if k.startswith('cost.')]:
            del self.diag.values[key]
        for term, value in res.info.get('cost_terms', {}).items():
            self.diag.set(f'cost.{term}', round(value, 6))
        if st['consecutive_misses'] >= 3:
            self.diag.warn(f'{st["consecutive_misses"]} consecutive deadline misses')
        else:
            self.diag.ok('planning')

    def subgoal_of(self, res):
        """The level-2 subgoal (D2,) of a hierarchical PlanResult, or None.

        It is the level-2 latent the coarse plan reaches when the fine horizon ends (what
        level 1 planned towards): info['subgoal'] when the planner reports it, else read
        from the level-2 plan made during the same call."""
        import torch
        sub = res.info.get('subgoal')
        if sub is None:
            upper = self._upper_result
            planner = self.planner
            if upper is None or planner is None:
                return None
            lat = upper.latents            # (P, coarse_horizon, D2)
            idx = min(max(planner.horizon // planner.k, 1), planner.coarse_horizon) - 1
            sub = lat[0, idx] if lat.dim() == 3 else lat[idx]
        sub = torch.as_tensor(sub).detach().float()
        if sub.dim() > 1:
            sub = sub[0]
        sub = sub.reshape(-1)
        return sub if bool(torch.isfinite(sub).all()) else None

    def _publish_subgoal(self, header, res, version=None):
        from jepa_ros_interfaces.msg import LatentState
        sub = self.subgoal_of(res)
        if sub is None:
            self.log.warn('subgoal', 'hierarchical plan without a usable subgoal')
            return
        msg = LatentState()
        msg.header = header
        msg.model_version = self.model_version if version is None else version
        msg.level = 2
        msg.data = sub.cpu().numpy().astype('float32').tolist()
        self.subgoal_pub.publish(msg)

    def _plan_tick(self):
        if not self.p['planning']:
            self.diag.ok('planning paused (Mode-1)')
            return
        try:
            self.plan_once()
        except Exception as exc:  # a planner bug must not kill the node
            self.log.warn('plan', f'planning failed: {exc!r}')
            self.diag.error(f'planning failed: {exc}')


def main(args=None):
    run_lifecycle_node(WorldModelNode, args)


if __name__ == '__main__':
    main()
