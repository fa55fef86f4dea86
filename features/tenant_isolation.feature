@security @tenants
Feature: One customer never reaches another customer's chats
  Each connection acts for the customer in its sign-in token and for no one else, whatever
  the question itself claims about who is asking or which chat it belongs to.
  Alice and Bob are two customers with their own sign-in tokens.

  @cross_chat
  Scenario Outline: Bob cannot write into Alice's chat, even claiming to be <claimed>
    Given Alice has a chat with one answer in it
    When Bob sends a question into Alice's chat, claiming to be <claimed>
    Then Bob is refused and gets nothing of Alice's chat

    Examples:
      | claimed |
      | Bob     |
      | Alice   |

  @claim_other
  Scenario: A question that claims to come from another customer is refused
    Given I am connected to the chat backend
    When I ask a question claiming to be another customer
    Then I am refused and nothing is done for that question
    And the connection still responds
