@p4 @mrr:30k @area:experience @owner:platform-team
Feature: Speed as users feel it
  Users judge the platform by how fast it answers: a slow welcome or a long wait for an agent's
  first sign of life feels broken even when it works. Each latency is measured over several
  samples; above its soft budget the experience is degraded (release at risk), above its hard
  budget it has failed.

  Scenario Outline: The backend's health answers stay fast
    When the release gate checks the backend's health <samples> times
    Then 95 in every 100 of them are within the soft budget of <soft> and the hard budget of <hard>

    Examples:
      | samples | soft        | hard      |
      | 10      | 0.5 seconds | 2 seconds |

  Scenario Outline: New live sessions are welcomed fast
    Given a signed-in user
    When the user opens <samples> live sessions one after another
    Then 95 in every 100 of them are within the soft budget of <soft> and the hard budget of <hard>

    Examples:
      | samples | soft        | hard      |
      | 10      | 1 second    | 2 seconds |

  Scenario Outline: A live session answers pings fast
    Given a signed-in user with an open live session
    When the user pings the session <samples> times
    Then 95 in every 100 of them are within the soft budget of <soft> and the hard budget of <hard>

    Examples:
      | samples | soft        | hard      |
      | 10      | 0.5 seconds | 2 seconds |

  Scenario Outline: An agent shows its first sign of life fast
    Given a signed-in user with an open live session
    When the user asks an agent for something <samples> times
    Then 95 in every 100 of them are within the soft budget of <soft> and the hard budget of <hard>

    Examples:
      | samples | soft        | hard      |
      | 10      | 1 second    | 2 seconds |
