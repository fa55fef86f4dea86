@auth @security
Feature: Only signed-in customers are served
  The assistant serves a connection only when it carries a valid sign-in token. A connection
  without one is turned away and nothing is done for it: no reply of any kind, not even to a check
  that the connection is alive, and no sign that an answer is being prepared. Turning away may
  happen before the connection opens or right after; both are fine. The other modes of the
  connection (proactive, realtime) speak their own language once connected; for them what is
  checked is who gets in.

  @bad_token
  Scenario Outline: A connection with <token> is turned away
    When I connect with <token> and try to chat
    Then the connection is refused
    And no work was done for it

    Examples:
      | token                                |
      | no token                             |
      | a garbled token                      |
      | an expired token                     |
      | a token signed with the wrong secret |
      | a token with no signature            |
      | a token that does not say who I am   |

  @bad_token_in_mode
  Scenario Outline: The <mode> mode also turns away <token>
    When I connect in <mode> mode with <token> and try to chat
    Then the connection is refused
    And no work was done for it

    Examples:
      | mode      | token            |
      | proactive | no token         |
      | proactive | an expired token |
      | realtime  | no token         |
      | realtime  | an expired token |

  @transport
  Scenario Outline: A valid token sent <place> works
    Given I am connected to the assistant with my token <place>
    When I ask a question
    Then the answer is complete and not empty

    Examples:
      | place                                          |
      | in the web address                             |
      | in the sign-in field of the connection request |

  @mode_admission
  Scenario Outline: The <mode> mode lets in a valid token
    When I connect in <mode> mode with my valid token
    Then the connection is let in

    Examples:
      | mode      |
      | proactive |
      | realtime  |
