"""One private PyBullet DIRECT connection per env (several envs may live in one process)."""
import functools
import inspect

import pybullet

# Pure maths helpers that take no physicsClientId.
_NO_CLIENT = {'invertTransform', 'multiplyTransforms', 'getMatrixFromQuaternion',
              'getEulerFromQuaternion', 'computeViewMatrixFromYawPitchRoll',
              'computeProjectionMatrixFOV', 'getQuaternionFromEuler', 'computeViewMatrix',
              'computeProjectionMatrix', 'getDifferenceQuaternion', 'getAxisAngleFromQuaternion',
              'getQuaternionFromAxisAngle', 'rotateVector'}


class Bullet:
    """`bullet.fn(...)` calls `pybullet.fn(..., physicsClientId=<ours>)`.

    pybullet_utils.BulletClient does the same but prints 'argv[0]=' on stdout for every
    connection, which would pollute command output.
    """

    def __init__(self):
        self.client_id = pybullet.connect(pybullet.DIRECT)
        if self.client_id < 0:
            raise RuntimeError('could not start a PyBullet DIRECT session')

    def __getattr__(self, name):
        attr = getattr(pybullet, name)
        if inspect.isbuiltin(attr) and name not in _NO_CLIENT:
            return functools.partial(attr, physicsClientId=self.client_id)
        return attr

    def disconnect(self):
        if self.client_id >= 0:
            try:
                pybullet.disconnect(physicsClientId=self.client_id)
            except pybullet.error:
                pass
            self.client_id = -1
