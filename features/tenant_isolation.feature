@security @tenants
Feature: One customer never reaches another customer's chats
  Each connection acts for the customer in its sign-in token and for no one else, whatever the
  question itself claims about who is asking or which chat it belongs to. Alice and Bob are two
  customers, each signed in with their own token: what Bob sends is refused when it reaches for
  Alice's chat or claims to be Alice, nothing is done for it, and nothing is stored in her chat.

  @cross_chat
  Scenario Outline: Bob cannot write into Alice's chat, even claiming to be <claimed>
    Given Alice has a chat with one answer in it
    When Bob sends a question into Alice's chat, claiming to be <claimed>
    Then Bob is refused, nothing is stored in Alice's chat and Bob gets nothing of it

    Examples:
      | claimed |
      | Bob     |
      | Alice   |

  @claim_other
  Scenario: A question that claims to come from another customer is refused
    Given Bob is signed in
    When Bob asks a question claiming to be Alice
    Then Bob is refused and nothing is done for that question
    And Bob's connection still responds
