@p4 @mrr:30k @area:experience @owner:platform-team
Feature: Speed as users feel it
  Users judge the platform by how fast it answers: a slow welcome or a long wait for an agent's
  first sign of life feels broken even when it works. Each latency is measured over several
  samples; above its soft budget the experience is degraded (release at risk), above its hard
  budget it has failed.

  Scenario Outline: The backend's health answers stay fast
    When the release gate checks the backend's health <samples> times
    Then their 95th percentile stays within the soft budget of <soft> seconds and the hard budget of <hard> seconds

    Examples:
      | samples | soft | hard |
      | 10      | 0.5  | 2    |

  Scenario Outline: New live sessions are welcomed fast
    Given a signed-in user
    When the user opens <samples> live sessions one after another
    Then their 95th percentile stays within the soft budget of <soft> seconds and the hard budget of <hard> seconds

    Examples:
      | samples | soft | hard |
      | 10      | 1    | 2    |

  Scenario Outline: A live session answers pings fast
    Given a signed-in user with an open live session
    When the user pings the session <samples> times
    Then their 95th percentile stays within the soft budget of <soft> seconds and the hard budget of <hard> seconds

    Examples:
      | samples | soft | hard |
      | 10      | 0.5  | 2    |

  Scenario Outline: An agent shows its first sign of life fast
    Given a signed-in user with an open live session
    When the user asks an agent for something <samples> times
    Then their 95th percentile stays within the soft budget of <soft> seconds and the hard budget of <hard> seconds

    Examples:
      | samples | soft | hard |
      | 10      | 1    | 2    |
