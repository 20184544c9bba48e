"""Learning from experience: new episodes in, a validated model version out.

The short-term memory's recordings are the training data (paper, section 4.10). One
round of the learner:
1. splits the episodes it was given into training and held-out ones (every
   `holdout_every`-th episode is held out, for good: validation never trains);
2. fine-tunes a copy of the running world model on every episode of the robot's own
   experience plus as many replayed earlier ones (the running model's training data;
   replay keeps what the model knew: without it a model fine-tuned on the new room
   forgets the old one), then trains a critic on the same episodes;
3. validates candidate and running models on the same held-out recordings of the robot's
   experience (open-loop prediction error over the copy-last-latent error, each in its own
   latent space) and, where a simulator is given, on the same seeded tasks (which also
   catch forgetting: they include what the running model could already do);
4. keeps the candidate only if it is not worse than the running models by the stated
   margins, and logs every decision with its figures (one JSON line each).

No rclpy here: `jepa-ros learn` (tools/learn.py) runs rounds on the memory's recordings
and asks the configurator to switch the nodes to an accepted version; the `learning`
benchmark runs them next to a simulated robot.
"""
import copy
import json
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from jepa_ros.core.checkpoint import model_version, save_checkpoint
from jepa_ros.core.critic import CriticConfig, CriticTrainConfig, train_critic
from jepa_ros.core.metrics import encode_episodes, multistep_ratios
from jepa_ros.core.train_world_model import TrainConfig, train_world_model


@dataclass
class LearnerConfig:
    world_model_budget_s: float = 120.0   # fine-tune time per round (all phases)
    world_model_lr: float = 5e-4          # below from-scratch training's 1e-3: it continues
    warmup_steps: int = 20
    critic_steps: int = 3000
    critic_budget_s: float = 45.0
    replay_ratio: float = 1.0        # replayed earlier episodes per experienced one
    min_replay: int = 40             # ... and at least this many (when there are)
    holdout_every: int = 5           # every n-th episode is held out for validation
    min_new_episodes: int = 4        # fewer training episodes since the last round: none
    horizon: int = 4                 # open-loop steps of the held-out prediction check
    prediction_margin: float = 0.5   # candidate ratio may exceed the running one x (1 + this)
    task_margin: float = 0.10        # candidate task success may fall short by this
    seed: int = 0

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class Decision:
    round: int
    accepted: bool
    reason: str
    version: str = ''          # the candidate's version ('' when no candidate was trained)
    running_version: str = ''  # the version running after the decision
    figures: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)


def prediction_ratio(model, episodes, horizon):
    """Held-out open-loop prediction error / copy-last error at `horizon` steps (lower is
    better; 1 is a model that predicts nothing)."""
    latents = encode_episodes(model, episodes)
    actions = [torch.as_tensor(ep.actions, dtype=torch.float32) for ep in episodes]
    ratios = multistep_ratios(model, latents, actions, horizons=(horizon,), max_starts=2000)
    if horizon not in ratios:
        raise ValueError(f'no held-out episode is longer than {horizon} steps')
    return float(ratios[horizon]['ratio'])


class Learner:
    """Rounds of fine-tune, validate, decide. `task_success(world_model, critic)` -> success
    rate in [0, 1] on fixed seeded tasks (None: validate on recordings only)."""

    def __init__(self, world_model, critic, out_dir, config=None, task_success=None,
                 log_path=None, device='cpu', say=print):
        self.config = config or LearnerConfig()
        self.world_model = world_model
        self.critic = critic
        self.out_dir = out_dir
        self.task_success = task_success
        self.log_path = log_path or os.path.join(out_dir, 'learner_log.jsonl')
        self.device = device
        self.say = say
        self.version = ''
        self.train_old, self.experience = [], []
        self.held_out, self.held_out_experience = [], []
        self.fresh = 0     # training episodes added since the last round
        self._seen = 0
        self.rounds = 0
        self._running_task = None   # the running models' task success (cached per version)
        os.makedirs(out_dir, exist_ok=True)

    def set_running(self, world_model, critic, version):
        self.world_model, self.critic, self.version = world_model, critic, version
        self._running_task = None

    def add_episodes(self, episodes, new=True):
        """New episodes of the robot's experience (`new=False`: the running model's own
        training data, replayed but never the reason for a round)."""
        for ep in episodes:
            self._seen += 1
            if self._seen % self.config.holdout_every == 0:
                self.held_out.append(ep)
                if new:
                    self.held_out_experience.append(ep)
            elif new:
                self.experience.append(ep)
                self.fresh += 1
            else:
                self.train_old.append(ep)

    def ready(self):
        return self.fresh >= self.config.min_new_episodes and bool(self.held_out)

    def training_set(self, rng):
        c = self.config
        want = max(c.min_replay, int(round(c.replay_ratio * len(self.experience))))
        n_old = min(len(self.train_old), want)
        old = [self.train_old[i] for i in sorted(rng.choice(len(self.train_old), n_old,
                                                             replace=False))] if n_old else []
        return list(self.experience) + old, n_old

    def train_candidate(self):
        c = self.config
        rng = np.random.default_rng(c.seed + self.rounds)
        episodes, n_old = self.training_set(rng)
        t0 = time.monotonic()
        model = copy.deepcopy(self.world_model).to(self.device)
        model.requires_grad_(True)
        tc = TrainConfig(steps=100000, time_budget_s=c.world_model_budget_s, lr=c.world_model_lr,
                         warmup_steps=c.warmup_steps, seed=c.seed + self.rounds, log_every=10**9)
        model, summary = train_world_model(episodes, train_config=tc, device=self.device,
                                           log=lambda *a, **k: None, model=model)
        model.eval().requires_grad_(False)
        t_wm = time.monotonic() - t0
        latents = [(z.to(self.device), torch.as_tensor(ep.actions, dtype=torch.float32,
                                                       device=self.device))
                   for z, ep in zip(encode_episodes(model, episodes), episodes)]
        critic_cfg = CriticConfig(**self.critic.config.__dict__) if self.critic is not None \
            else CriticConfig(latent_dim=model.config.latent_dim)
        critic, stats = train_critic(latents, model, critic_cfg, CriticTrainConfig(
            steps=c.critic_steps, seed=c.seed + self.rounds, time_limit_s=c.critic_budget_s))
        critic.eval().requires_grad_(False)
        figures = {'train_episodes': len(episodes), 'replayed': n_old,
                   'experience': len(self.experience), 'world_model_s': round(t_wm, 1),
                   'critic_s': round(time.monotonic() - t0 - t_wm, 1),
                   'world_model_steps': summary.get('steps') if isinstance(summary, dict)
                   else None, 'critic_loss': stats.get('loss')}
        return model, critic, figures

    def validate(self, model, critic):
        # The held-out experience, where it exists: on the old data alone the ratio
        # penalises a model that learned something new (a learning run refused
        # candidates that solved 75 % of the tasks against the running 50 %, because an
        # encoder that now separates the new room leaves less latent spread to motion in
        # the old one, and the copy error it is divided by shrinks).
        c = self.config
        held_out = self.held_out_experience or self.held_out
        fig = {'held_out_episodes': len(held_out),
               'held_out_from': 'experience' if self.held_out_experience else 'all',
               'prediction_ratio': prediction_ratio(model, held_out, c.horizon),
               'running_prediction_ratio': prediction_ratio(self.world_model, held_out,
                                                            c.horizon)}
        if self.task_success is not None:
            fig['task_success'] = float(self.task_success(model, critic))
            if self._running_task is None:
                self._running_task = float(self.task_success(self.world_model, self.critic))
            fig['running_task_success'] = self._running_task
        return fig

    def decide(self, fig):
        c = self.config
        if fig['prediction_ratio'] > fig['running_prediction_ratio'] * (1 + c.prediction_margin):
            return False, (f"held-out prediction ratio {fig['prediction_ratio']:.3f} is worse "
                           f"than the running {fig['running_prediction_ratio']:.3f} by more "
                           f'than {c.prediction_margin:.0%}')
        if 'task_success' in fig and \
                fig['task_success'] < fig['running_task_success'] - c.task_margin:
            return False, (f"task success {fig['task_success']:.2f} is below the running "
                           f"{fig['running_task_success']:.2f} by more than {c.task_margin}")
        return True, 'not worse than the running models within the margins'

    def round(self):
        """One round: -> Decision (accepted candidates are saved under out_dir/<version>/
        and become the running models)."""
        self.rounds += 1
        if not self.ready():
            return self._log(Decision(self.rounds, False, f'waiting for data: '
                                      f'{self.fresh} new training episodes '
                                      f'(need {self.config.min_new_episodes}), '
                                      f'{len(self.held_out)} held out',
                                      running_version=self.version))
        t0 = time.monotonic()
        self.fresh = 0
        model, critic, fig = self.train_candidate()
        fig.update(self.validate(model, critic))
        fig['round_s'] = round(time.monotonic() - t0, 1)
        accepted, reason = self.decide(fig)
        staging = os.path.join(self.out_dir, 'staging')
        paths = {'world_model': save_checkpoint(os.path.join(staging, 'world_model.pt'), model,
                                                extra={'learner': fig}),
                 'critic': save_checkpoint(os.path.join(staging, 'critic.pt'), critic,
                                           kind='critic', extra={'learner': fig})}
        version = model_version(paths['world_model'])
        final = os.path.join(self.out_dir, version)
        if os.path.isdir(final):
            raise RuntimeError(f'version folder {final} exists already')
        os.replace(staging, final)
        paths = {k: os.path.join(final, os.path.basename(p)) for k, p in paths.items()}
        if accepted:
            self.set_running(model, critic, version)
            self._running_task = fig.get('task_success')
        return self._log(Decision(self.rounds, accepted, reason, version, self.version, fig,
                                  paths))

    def _log(self, decision):
        record = dict(decision.to_dict(), time=time.time())
        with open(self.log_path, 'a') as f:
            f.write(json.dumps(record) + '\n')
        self.say(f"[learner] round {decision.round}: "
                 f"{'accepted' if decision.accepted else 'kept the running models'} "
                 f'{decision.version}: {decision.reason} {json.dumps(decision.figures)}')
        return decision
