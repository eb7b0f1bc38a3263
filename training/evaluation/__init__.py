"""Measuring a model: ``evaluate`` runs the stages (its ``settings``: full or ``--quick``), ``metrics``
has the maths as pure functions, ``iwae`` the importance-weighted likelihood bounds, ``classifier``
the CNN that judges generated images and ``judging`` its verdicts, ``trials`` the classifiers trained
on real and generated images, ``references`` the cache of model-independent results, ``catalogue``
what each metric means, and ``report`` the side-by-side benchmark."""
