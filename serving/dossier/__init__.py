"""Due process for families (issue 23): the explanation record a family can read
(``earlyrisk dossier``, ``POST /dossier``) and the notices of an automated assessment
(``earlyrisk notices``).

* :mod:`serving.dossier.mutable`: the needs a family can change, and what "resolved" means;
* :mod:`serving.dossier.counterfactual`: the smallest such change that brings the level
  down, found by re-scoring the model;
* :mod:`serving.dossier.build`: a logged score re-derived bit for bit;
* :mod:`serving.dossier.document` / :mod:`serving.dossier.render`: its words (kk/ru/en)
  and its HTML / PDF;
* :mod:`serving.dossier.produce`: all of it for a caller, logged before it is handed over;
* :mod:`serving.dossier.notices`: who must be told, and the notice text.
"""
