"""The predictive score's parts: what it reads of a lead (`features`), how it learns and
is evaluated (`learn`, scikit-learn), and the rule suggestions (`suggestions`). Its
changes of state are in scoring.services.predictive."""
